"""The playground: a page at ``/`` that tries the served models in a browser, offline."""
