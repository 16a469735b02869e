"""Translation: seq2seq with Bahdanau attention on German-English sentence pairs."""
