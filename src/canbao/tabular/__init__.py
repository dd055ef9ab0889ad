"""The one reader of the files other offices send (issue 13): every layout in one table (:mod:`.layouts`,
rendered as docs/file-layouts.md), one way to read ID numbers, dates, amounts and names (:mod:`.values`), CSV
and XLSX read into frames of text columns named by field with the header row found below any title rows and
合计 rows reported (:mod:`.sheets`), and the CSV text checks (:mod:`.textfiles`)."""
