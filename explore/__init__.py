"""What a person does with exbert, once for every face: pages, JSON API and CLI.

`Explorer` (explorer.py) is the entry point: analyse a sentence (attention.py),
search a corpus (search.py, summary.py, export.py), list what the store holds.
Requests are validated here, the model allow-list is enforced here (models.py),
and results become JSON in one place (serialize.py). The pages, routes and
commands only parse, call and render.
"""
