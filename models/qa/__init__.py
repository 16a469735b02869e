"""Question answering: a Dynamic Memory Network (DMN+) on the bAbI tasks."""
