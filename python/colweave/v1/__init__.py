"""Generated modules of colweave's own gRPC API (`proto/colweave/v1`). Regenerate with `make proto`."""
