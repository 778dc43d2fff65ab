"""Server-side paging shared by list states: the browser holds one page and asks for the next."""

from __future__ import annotations

from typing import Any

import reflex as rx

from connections_app.ui import formatting

PAGE_SIZE = 25


class PagedMixin(rx.State, mixin=True):
    page: int = 1
    total: int = 0

    async def _reload(self) -> Any:  # each list state reads its own page
        raise NotImplementedError

    @rx.event
    async def next_page(self) -> Any:
        if self.page * PAGE_SIZE < self.total:
            self.page += 1
        return await self._reload()

    @rx.event
    async def previous_page(self) -> Any:
        self.page = max(1, self.page - 1)
        return await self._reload()

    @rx.var
    def page_summary(self) -> str:
        return formatting.page_summary(self.page, PAGE_SIZE, self.total)

    @rx.var
    def has_next(self) -> bool:
        return self.page * PAGE_SIZE < self.total
