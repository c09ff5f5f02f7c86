"""Cases: leads and findings turned into verified, decided and referred work, stored per workspace.

``db`` opens ``WS/cases/cases.sqlite`` and migrates it; ``store`` is the case API
(create, transition, assign, comment, attach, export) that the CLI and the web app share.
"""
