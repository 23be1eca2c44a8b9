"""colweave's server: Weaviate's REST and gRPC protocols, the Weaviate Embeddings API and colweave.v1."""
