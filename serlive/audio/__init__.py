"""Audio input: file loading, ring buffer, sources and recording."""
