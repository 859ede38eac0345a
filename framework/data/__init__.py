"""Data shared by every task: where a split's files are (sources), their bytes as text (decoding, lines), and
streaming record readers for every format (readers, hf_disk); the token store lands here too."""
