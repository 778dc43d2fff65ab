"""The app catalog (F12): declarative app definitions and a validating loader."""

from connections_app.core.catalog.loader import (
    Catalog,
    CatalogError,
    get_catalog,
    load_catalog,
    load_catalog_from_dir,
    reset_catalog_cache,
)
from connections_app.core.catalog.models import (
    AppDefinition,
    ApplySpec,
    AuthMethod,
    FieldSpec,
    OAuthSpec,
    TestRequestSpec,
)

__all__ = [
    "AppDefinition",
    "ApplySpec",
    "AuthMethod",
    "Catalog",
    "CatalogError",
    "FieldSpec",
    "OAuthSpec",
    "TestRequestSpec",
    "get_catalog",
    "load_catalog",
    "load_catalog_from_dir",
    "reset_catalog_cache",
]
