"""Retrieval over the user's own files: text extraction, chunking, embeddings, hybrid search.

Used by the Files and Vector Stores APIs, by `input_file` parts (text for the model) and by
the `file_search` tool. Nothing here knows HTTP routes or events.
"""
