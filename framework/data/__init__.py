"""Data shared by every task: reading text files, encoding in parallel batches, the memory-mapped token store."""
