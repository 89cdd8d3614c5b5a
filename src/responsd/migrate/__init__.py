"""`responsd migrate`: rewrite Chat Completions code as Responses code (a libcst codemod)."""
