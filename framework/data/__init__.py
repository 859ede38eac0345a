"""Data shared by every task: reading text files (streaming readers and the token store land here)."""
