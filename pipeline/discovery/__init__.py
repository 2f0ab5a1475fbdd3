"""Primitive discovery: keyframes of clips, image embeddings, clusters and their language."""
