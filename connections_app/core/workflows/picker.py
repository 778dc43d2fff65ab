"""The node picker's pager (F15): one ordered page of the connections a node may use.

The two sources (this workspace's own connections, and the account connections
granted to it) come from `tenancy.connections`; this module only pages them.
"""

from __future__ import annotations

import heapq
from itertools import islice

from sqlalchemy import ColumnElement, and_
from sqlmodel import Session

from connections_app.core.connections.models import Connection
from connections_app.core.tenancy import connections as connection_scope
from connections_app.core.tenancy.actor import Actor


def picker_page(
    db: Session,
    actor: Actor,
    *,
    app: str,
    filters: list[ColumnElement[bool]],
    page: int,
    page_size: int,
    count_cap: int,
) -> tuple[int, list[Connection], bool]:
    """One ordered page of `usable_connection_sources` and their total, counted up to
    just past `count_cap` per source, and whether a next page exists.

    Each source is counted, and its (label, id) keys read in order, on its own index up
    to the end of the requested page; merging the two ordered prefixes picks the page.
    Only the page's rows are then read, by primary key: every id came from the scoped
    key query of this same transaction, and each row is checked again on the way out.
    """
    sources = [
        and_(source, *filters)
        for source in connection_scope.usable_connection_sources(actor, app=app)
    ]
    # Counting stops past `count_cap` rows: "1,000+" is as useful in a picker as 9,501,
    # and counting every row of a large workspace was most of the picker's time.
    total = sum(connection_scope.count_source(db, source, cap=count_cap) for source in sources)
    need = page * page_size
    # one more than the page tells whether a next page exists
    prefixes = [connection_scope.source_keys(db, source, limit=need + 1) for source in sources]
    following = sum(len(p) for p in prefixes) > need
    chosen = [conn_id for _key, conn_id in islice(heapq.merge(*prefixes), need - page_size, need)]
    return total, connection_scope.usable_by_ids(db, actor, chosen, app=app), following
