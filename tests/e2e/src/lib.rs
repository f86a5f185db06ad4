//! End-to-end tests of the whole system (see `tests/`): the real `payments` and `murchases`
//! binaries from the target directory and the real Apollo gateway (`router/gateway.mjs`, Node 20)
//! in front of them, on one fresh SQLite and one fresh PostgreSQL database, with an in-process fake
//! Stripe. Nothing here is linked into a service; the library is empty on purpose.
