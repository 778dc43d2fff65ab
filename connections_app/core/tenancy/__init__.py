"""Who is asking, and what they may see and do (F8, F10; invariants 1 and 2).

`actor` (who), `policy` (the role × sharing table), one scoped-query module per
domain (`connections`, `audit`, `workflows`, `runs`) and `leases` (the claims
that let exactly one process refresh a token or run a run). Every query of a
tenant-owned table is built in this package; `tests/unit/test_structure.py`
holds the rest of the code to that.
"""
