"""Data shared by every task: where a split's files are (sources), their bytes as text (decoding, lines), streaming
record readers for every format (readers, hf_disk), parallel batch encoding and the memory-mapped token store."""
