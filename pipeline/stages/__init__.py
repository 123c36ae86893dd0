"""Model-driven stages. Each stage turns one input shard into one output shard plus rejects."""
