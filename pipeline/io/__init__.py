"""Reading and writing our tables: atomic Parquet shards, atomic text files, the output folder layout."""
