"""Reading the files other offices send (CSV and, later, every layout in one place: issue 13)."""
