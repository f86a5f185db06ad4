//! Storefront orders (issue 14, R-HOOK-5): shops admins register, the order records their
//! webhooks keep, and how a payment is joined to its order.
//!
//! - A shop is registered by an admin (MANAGE_COMMISSIONS): platform, shop (Shopify shop domain,
//!   WooCommerce site URL), the Malet whose shop it is, the `STOREFRONT_*` variables holding its
//!   own secrets (a Shopify shop may use the app's `SHOPIFY_WEBHOOK_SECRET` instead; a WooCommerce
//!   store always has its own), and whether the affiliates its orders name are credited. The
//!   secrets themselves are never stored nor returned. A delivery from a shop nobody registered
//!   is refused like a bad signature.
//! - Each delivery is stored once per shop by its delivery id, and applied in the same
//!   transaction: an order delivery writes the order record (unique on platform, shop, order id)
//!   and its lines; a refund delivery records the refund (once by its id) and, once the order's
//!   payment is recorded, moves the entry to the storefront's item refunds (`ItemRefunds`: a
//!   refunded item takes back exactly its share). What cannot apply is kept NEEDS_ATTENTION for
//!   an admin's replay.
//! - A payment whose metadata names a storefront order (`platform`, `orderId`) of a Malet with a
//!   registered shop on that platform is recorded with the order record's numbers, never the
//!   metadata's; metadata that disagrees with the record is an exception for admins. A payment
//!   that arrives before its order waits (an exception saying so) and is recorded when the order
//!   arrives, in the order's transaction: either order of arrival gives the same entry.
//!   Both paths lock all of the Malet's shops on the platform first (in id order), so they
//!   cannot miss each other nor deadlock.
//! - WooCommerce: a refund's lines come from the store's REST API, and a backfill pulls the
//!   orders of a window whose webhook was missed.
//! - TikTok Shop: a notification names an order and its status; the order is read from the
//!   Partner API. TikTok collects the money and pays the seller, so no payment joins these
//!   orders: their commission is a receivable (`receivables`).

use std::collections::{BTreeMap, HashMap};

use domain::events::{EventKind, ProviderEvent};
use domain::ids::MaletId;
use domain::metadata::PaymentMetadata;
use domain::permissions::{Actor, Permission};
use domain::storefront::{Platform, StorefrontEvent, StorefrontEventKind, StorefrontOrder, StorefrontRefund};
use entity::enums::{DeliveryStatus, WebhookStatus};
use entity::{
    commission_ledger, payment_exceptions, storefront_deliveries, storefront_order_lines, storefront_orders,
    storefront_payment_waits, storefront_refunds, storefront_shops, webhook_events,
};
use providers::tiktok::client::{TikTokClient, TikTokShopCredentials};
use providers::tiktok::transformers::NotificationKind;
use providers::woocommerce::client::WooClient;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect as _, TransactionTrait as _,
};
use secrecy::SecretString;
use service_core::audit::{self, AuditEntry};
use service_core::clock;
use service_core::webhook::Outcome;

use super::{Murchases, ServiceError, ServiceResult};
use crate::repo;

/// Orders per page at most.
pub const MAX_ORDER_PAGE: i32 = 100;

/// The platforms whose orders arrive by webhook (a payment naming one of them waits for its
/// order when the Malet has a shop registered there).
pub const WEBHOOK_PLATFORMS: [Platform; 3] = [Platform::Shopify, Platform::Woocommerce, Platform::Tiktok];

/// The platforms' default webhook secrets (from the environment), used for shops registered
/// without a secret of their own.
#[derive(Clone, Default)]
pub struct StorefrontSecrets {
    pub shopify: Option<SecretString>,
    /// The TikTok Shop app (its key and secret sign every notification and API request).
    pub tiktok: Option<TikTokApp>,
    /// Values the variables a shop names (`secretEnv`, `apiKeyEnv`, …) resolve to before the
    /// process environment is read (tests and embedders that run several services in one
    /// process); empty in the binaries.
    pub variables: std::collections::BTreeMap<String, SecretString>,
    /// Stores may be read over plain HTTP on a loopback address (development and tests; never
    /// with `APP_ENV=production`).
    pub loopback_stores: bool,
}

impl StorefrontSecrets {
    /// The value of a variable a shop names (never empty).
    pub fn var(&self, name: &str) -> Option<SecretString> {
        use secrecy::ExposeSecret as _;
        match self.variables.get(name) {
            Some(v) => Some(v.clone()),
            None => std::env::var(name).ok().map(SecretString::from),
        }
        .filter(|v| !v.expose_secret().is_empty())
    }
}

/// Why a verified delivery was not read, and how it is kept: NEEDS_ATTENTION (an admin's), or
/// SOURCE_UNAVAILABLE (the storefront's API did not answer: its redelivery reads it again).
#[derive(Debug, Clone)]
pub struct Unread {
    pub status: DeliveryStatus,
    pub reason: String,
}

impl Unread {
    pub fn attention(reason: String) -> Unread {
        Unread { status: DeliveryStatus::NeedsAttention, reason }
    }
}

/// The platform's TikTok Shop app: one app for every shop (shops authorize it).
#[derive(Clone)]
pub struct TikTokApp {
    pub app_key: String,
    pub app_secret: SecretString,
    /// The Partner API base.
    pub api_base: String,
}

impl TikTokApp {
    /// From `TIKTOK_APP_KEY` / `TIKTOK_APP_SECRET` (both or neither) and `TIKTOK_API_BASE`.
    pub fn from_settings(
        app_key: Option<&str>,
        app_secret: Option<SecretString>,
        api_base: &str,
    ) -> Result<Option<TikTokApp>, String> {
        use secrecy::ExposeSecret as _;
        let app_key = app_key.map(str::trim).filter(|k| !k.is_empty());
        let app_secret = app_secret.filter(|s| !s.expose_secret().trim().is_empty());
        match (app_key, app_secret) {
            (None, None) => Ok(None),
            (Some(app_key), Some(app_secret)) => {
                Ok(Some(TikTokApp { app_key: app_key.to_owned(), app_secret, api_base: api_base.to_owned() }))
            }
            _ => Err("TIKTOK_APP_KEY and TIKTOK_APP_SECRET go together".into()),
        }
    }
}

impl std::fmt::Debug for StorefrontSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorefrontSecrets").field("shopify", &self.shopify.as_ref().map(|_| "[set]")).finish()
    }
}

/// What a delivery came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    New(DeliveryStatus),
    Duplicate,
}

/// How a payment stands towards its storefront order.
pub(crate) enum Join {
    /// Not a storefront order we receive (no shop registered): the metadata path.
    NotStorefront,
    /// Needs an admin, or waits for its order; the reason.
    Attention(String),
    /// Recorded with this order's numbers.
    Order(Box<storefront_orders::Model>),
}

/// A storefront order with everything its view shows.
#[derive(Debug, Clone)]
pub struct OrderView {
    pub order: storefront_orders::Model,
    pub lines: Vec<storefront_order_lines::Model>,
    pub refunded_base: i64,
    pub refunded_amount: i64,
    pub entry: Option<commission_ledger::Model>,
    /// The open exception of its payment (or of the waiting payment), if any.
    pub exception: Option<String>,
    /// The commission the seller owes on it, when the storefront collected the money (TikTok).
    pub receivable: Option<super::receivables::ReceivableView>,
}

/// The prefix of every variable a shop's secrets are read from: no other server setting (a
/// database URL, a provider's key, the Shopify app's secret) can be named as one.
pub const SECRET_ENV_PREFIX: &str = "STOREFRONT_";

/// A delivery whose source did not answer is read again by the job after 1 minute, then after
/// twice as long each time (at most 6 hours apart), 12 reads in all (about a day); after the
/// last it needs an admin.
pub const REDELIVERY_FIRST_DELAY_SECS: i64 = 60;
pub const REDELIVERY_MAX_DELAY_SECS: i64 = 6 * 3600;
pub const REDELIVERY_ATTEMPTS: i32 = 12;
/// Deliveries the job reads per pass.
pub const REDELIVERY_BATCH: u64 = 50;

/// What becomes of a delivery whose source did not answer its read number `attempts + 1` (the
/// first read is the delivery's own): read again later (SOURCE_UNAVAILABLE, due at the backoff),
/// or, after the last read, NEEDS_ATTENTION with `why` and the count. Returns (status, when it
/// is due, note).
pub fn after_unanswered_read(
    attempts: i32,
    why: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> (DeliveryStatus, Option<chrono::DateTime<chrono::Utc>>, String) {
    let reads = attempts.saturating_add(1);
    if reads >= REDELIVERY_ATTEMPTS {
        (DeliveryStatus::NeedsAttention, None, format!("{why} (read {reads} times: replay once the source answers)"))
    } else {
        (DeliveryStatus::SourceUnavailable, Some(next_redelivery(now, attempts)), why.to_owned())
    }
}

/// When a delivery read `attempts` times already without an answer is read next.
pub fn next_redelivery(now: chrono::DateTime<chrono::Utc>, attempts: i32) -> chrono::DateTime<chrono::Utc> {
    let doublings = u32::try_from(attempts.clamp(0, 20)).unwrap_or(0);
    let delay = REDELIVERY_FIRST_DELAY_SECS.saturating_mul(1i64 << doublings).min(REDELIVERY_MAX_DELAY_SECS);
    now + chrono::Duration::seconds(delay)
}

/// What an admin registers a shop with (`registerStorefrontShop`).
#[derive(Debug, Clone, Copy)]
pub struct ShopRegistration<'a> {
    pub platform: Platform,
    pub shop: &'a str,
    pub malet: &'a MaletId,
    pub secret_env: Option<&'a str>,
    pub api_key_env: Option<&'a str>,
    pub api_secret_env: Option<&'a str>,
    /// Credit the affiliate an order names (buyers can write it): an admin's decision per shop.
    pub affiliate_attribution: bool,
}

/// A variable a shop's secret is read from must be a variable name, and set on this server.
fn check_env(secrets: &StorefrontSecrets, name: &str) -> ServiceResult<()> {
    if !env_name_ok(name) || !name.starts_with(SECRET_ENV_PREFIX) || name.len() == SECRET_ENV_PREFIX.len() {
        return Err(ServiceError::BadInput(format!(
            "{name:?} is not a storefront secret's variable name (it starts with {SECRET_ENV_PREFIX})"
        )));
    }
    if secrets.var(name).is_none() {
        return Err(ServiceError::BadInput(format!("environment variable {name} is not set on this server")));
    }
    Ok(())
}

fn env_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

/// A shop's canonical key: Shopify shop domains are case-insensitive host names.
pub fn canonical_shop(platform: Platform, shop: &str) -> ServiceResult<String> {
    let shop = shop.trim().to_ascii_lowercase();
    let ok = match platform {
        Platform::Shopify => {
            !shop.is_empty()
                && shop.len() <= 255
                && shop.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                && shop.contains('.')
        }
        // A site's home URL: `http(s)://host[:port][/path]`, without its trailing slash.
        Platform::Woocommerce => {
            let (scheme, rest) = shop.split_once("://").unwrap_or(("", ""));
            let host = rest.split('/').next().unwrap_or_default();
            matches!(scheme, "http" | "https")
                && !host.is_empty()
                && shop.len() <= 255
                && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~:/[]%".contains(&b))
        }
        // TikTok Shop's `shop_id` (not its `shop_cipher`): digits.
        Platform::Tiktok => !shop.is_empty() && shop.len() <= 64 && shop.bytes().all(|b| b.is_ascii_digit()),
        _ => !shop.is_empty() && shop.len() <= 255 && !shop.chars().any(char::is_control),
    };
    let shop = if platform == Platform::Woocommerce { shop.trim_end_matches('/').to_owned() } else { shop };
    if ok { Ok(shop) } else { Err(ServiceError::BadInput(format!("{shop:?} is not a {platform} shop"))) }
}

impl Murchases {
    /// `registerStorefrontShop` (MANAGE_COMMISSIONS, platform-wide): which Malet a shop is, and
    /// where its webhook secret is read from. Registering a shop again for the same Malet changes
    /// its secret reference (rotation); a shop of another Malet is refused (credit follows the
    /// shop: moving it is a deliberate re-registration after removal, not an overwrite).
    pub async fn register_storefront_shop(
        &self,
        actor: &Actor,
        input: ShopRegistration<'_>,
    ) -> ServiceResult<storefront_shops::Model> {
        actor.can_admin(Permission::ManageCommissions)?;
        let ShopRegistration { platform, shop, malet, secret_env, api_key_env, api_secret_env, affiliate_attribution } =
            input;
        let no_default_secret = match platform {
            Platform::Shopify if self.storefront_secrets.shopify.is_some() => None,
            Platform::Shopify => Some("SHOPIFY_WEBHOOK_SECRET is not set"),
            // Each store's webhook has its own secret (typed into the store): no shared default,
            // which every store's owner would know and could sign another store's orders with.
            Platform::Woocommerce => Some("a WooCommerce store has its own webhook secret"),
            // One app for every shop: its secret signs every notification.
            Platform::Tiktok if self.storefront_secrets.tiktok.is_some() => None,
            Platform::Tiktok => {
                return Err(ServiceError::BadInput(
                    "TIKTOK_APP_KEY and TIKTOK_APP_SECRET are not set on this server".into(),
                ));
            }
            other => return Err(ServiceError::BadInput(format!("{other} webhooks are not received yet"))),
        };
        if platform == Platform::Tiktok && secret_env.is_some_and(|s| !s.trim().is_empty()) {
            return Err(ServiceError::BadInput(
                "a TikTok shop's notifications are signed with the app's secret (TIKTOK_APP_SECRET): no secretEnv"
                    .into(),
            ));
        }
        let shop = canonical_shop(platform, shop)?;
        let trimmed = |v: Option<&'_ str>| v.map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        let (secret_env, api_key_env, api_secret_env) =
            (trimmed(secret_env), trimmed(api_key_env), trimmed(api_secret_env));
        for name in [&secret_env, &api_key_env, &api_secret_env].into_iter().flatten() {
            check_env(&self.storefront_secrets, name)?;
        }
        if let (None, Some(why)) = (&secret_env, no_default_secret) {
            return Err(ServiceError::BadInput(format!(
                "{why}: name the environment variable holding this shop's webhook secret (secretEnv)"
            )));
        }
        match (&api_key_env, &api_secret_env) {
            (Some(_), None) | (None, Some(_)) => {
                return Err(ServiceError::BadInput("apiKeyEnv and apiSecretEnv go together".into()));
            }
            (Some(_), Some(_)) if !matches!(platform, Platform::Woocommerce | Platform::Tiktok) => {
                return Err(ServiceError::BadInput(format!("{platform} shops have no API credentials here")));
            }
            // A notification carries no amounts: the order is read from the Partner API.
            (None, None) if platform == Platform::Tiktok => {
                return Err(ServiceError::BadInput(
                    "a TikTok shop needs apiKeyEnv (the variable holding its shop_cipher) and apiSecretEnv (its access token)"
                        .into(),
                ));
            }
            _ => {}
        }
        let txn = service_core::db::begin_write(&self.db).await?;
        let now = clock::now();
        let who = actor.subject().unwrap_or("unknown");
        let existing = repo::storefronts::shop(&*txn, platform.into(), &shop).await?;
        // A shop's secrets are its own: a variable another shop reads is refused (a store that
        // knew it could sign the other's deliveries, or receive its API key).
        let names: Vec<&String> = [&secret_env, &api_key_env, &api_secret_env].into_iter().flatten().collect();
        if let Some(other) = storefront_shops::Entity::find().all(&*txn).await?.into_iter().find(|o| {
            existing.as_ref().is_none_or(|e| e.id != o.id)
                && [&o.secret_env, &o.api_key_env, &o.api_secret_env].into_iter().flatten().any(|n| names.contains(&n))
        }) {
            return Err(ServiceError::Conflict(format!(
                "a variable named here is already shop {}'s: each shop has its own secrets",
                other.shop
            )));
        }
        let before = existing.as_ref().map(|e| {
            serde_json::json!({"malet": e.malet_id, "secretEnv": e.secret_env,
                "apiKeyEnv": e.api_key_env, "apiSecretEnv": e.api_secret_env,
                "affiliateAttribution": e.affiliate_attribution})
        });
        let row = match existing {
            Some(e) if e.malet_id != malet.as_str() => {
                return Err(ServiceError::Conflict(format!("shop {shop} is registered to Malet {}", e.malet_id)));
            }
            Some(e) => {
                let mut am: storefront_shops::ActiveModel = e.into();
                am.secret_env = Set(secret_env.clone());
                am.api_key_env = Set(api_key_env.clone());
                am.api_secret_env = Set(api_secret_env.clone());
                am.affiliate_attribution = Set(affiliate_attribution);
                am.updated_at = Set(now);
                am.update(&*txn).await?
            }
            None => {
                storefront_shops::ActiveModel {
                    id: Set(uuid::Uuid::now_v7().to_string()),
                    platform: Set(platform.into()),
                    shop: Set(shop.clone()),
                    malet_id: Set(malet.as_str().to_owned()),
                    secret_env: Set(secret_env.clone()),
                    api_key_env: Set(api_key_env.clone()),
                    api_secret_env: Set(api_secret_env.clone()),
                    affiliate_attribution: Set(affiliate_attribution),
                    created_by: Set(who.to_owned()),
                    created_at: Set(now),
                    updated_at: Set(now),
                }
                .insert(&*txn)
                .await?
            }
        };
        audit::record(
            &*txn,
            AuditEntry {
                actor: who,
                action: "register_storefront_shop",
                entity_type: "storefront_shop",
                entity_id: &row.id,
                malet_id: Some(malet.as_str()),
                before,
                after: Some(serde_json::json!({"platform": platform.as_str(), "shop": shop,
                    "malet": malet.as_str(), "secretEnv": row.secret_env,
                    "apiKeyEnv": row.api_key_env, "apiSecretEnv": row.api_secret_env,
                    "affiliateAttribution": row.affiliate_attribution})),
                reason: None,
            },
        )
        .await?;
        txn.commit().await?;
        Ok(row)
    }

    /// The registered shop a delivery claims to come from.
    pub async fn storefront_shop(
        &self,
        platform: Platform,
        shop: &str,
    ) -> ServiceResult<Option<storefront_shops::Model>> {
        let Ok(shop) = canonical_shop(platform, shop) else { return Ok(None) };
        Ok(repo::storefronts::shop(&self.db, platform.into(), &shop).await?)
    }

    /// The webhook secret of a shop: its own environment variable, or the platform's.
    pub fn storefront_secret(&self, shop: &storefront_shops::Model) -> Result<SecretString, String> {
        match &shop.secret_env {
            Some(name) => self
                .storefront_secrets
                .var(name)
                .ok_or_else(|| format!("environment variable {name} (the secret of shop {}) is not set", shop.shop)),
            None => match shop.platform.domain() {
                Platform::Shopify => {
                    self.storefront_secrets.shopify.clone().ok_or_else(|| "SHOPIFY_WEBHOOK_SECRET is not set".into())
                }
                Platform::Tiktok => self
                    .storefront_secrets
                    .tiktok
                    .as_ref()
                    .map(|app| app.app_secret.clone())
                    .ok_or_else(|| "TIKTOK_APP_SECRET is not set".into()),
                other => Err(format!("no default webhook secret for {other}")),
            },
        }
    }

    /// Stores a verified delivery once (by platform and delivery id) and applies it in the same
    /// transaction. What cannot apply as it is (numbers that do not add up, another Malet's id)
    /// is stored as NEEDS_ATTENTION with nothing else written; an `Err` stored nothing (answer
    /// 5xx: the storefront delivers it again).
    pub async fn receive_storefront(
        &self,
        shop: &storefront_shops::Model,
        event: &StorefrontEvent,
        event_id: Option<&str>,
        raw: &str,
    ) -> ServiceResult<Delivered> {
        let txn = service_core::db::begin_write(&self.db).await?;
        let row_id = uuid::Uuid::now_v7().to_string();
        let inserted = repo::storefronts::insert_delivery(
            &*txn,
            storefront_deliveries::ActiveModel {
                id: Set(row_id.clone()),
                platform: Set(event.platform.into()),
                shop: Set(shop.shop.clone()),
                delivery_id: Set(event.delivery_id.clone()),
                event_id: Set(event_id.map(str::to_owned)),
                topic: Set(event.topic.clone()),
                status: Set(DeliveryStatus::Applied),
                note: Set(None),
                payload: Set(raw.to_owned()),
                received_at: Set(clock::now()),
                attempts: Set(0),
                next_attempt_at: Set(None),
            },
        )
        .await?;
        if !inserted {
            txn.commit().await?;
            return Ok(Delivered::Duplicate);
        }
        let (status, note) = self.apply_delivery(&txn, shop, event).await?;
        storefront_deliveries::Entity::update_many()
            .col_expr(storefront_deliveries::Column::Status, Expr::value(status))
            .col_expr(storefront_deliveries::Column::Note, Expr::value(note))
            .filter(storefront_deliveries::Column::Id.eq(row_id))
            .exec(&*txn)
            .await?;
        txn.commit().await?;
        metrics::counter!("storefront_deliveries_total", "platform" => event.platform.as_str(), "status" => status.as_str())
            .increment(1);
        Ok(Delivered::New(status))
    }

    /// Stores a verified delivery that cannot be read now, with why: NEEDS_ATTENTION when its
    /// body does not read as its topic (the storefront is not asked to send it again; an admin
    /// looks at it and replays it once the reader or the shop's data is fixed), or
    /// SOURCE_UNAVAILABLE when the storefront's API did not answer (its redelivery reads it
    /// again).
    pub async fn receive_unreadable_storefront(
        &self,
        shop: &storefront_shops::Model,
        delivery: (&str, &str, Option<&str>),
        raw: &str,
        unread: &Unread,
    ) -> ServiceResult<Delivered> {
        let (delivery_id, topic, event_id) = delivery;
        let now = clock::now();
        let inserted = repo::storefronts::insert_delivery(
            &self.db,
            storefront_deliveries::ActiveModel {
                id: Set(uuid::Uuid::now_v7().to_string()),
                platform: Set(shop.platform),
                shop: Set(shop.shop.clone()),
                delivery_id: Set(delivery_id.to_owned()),
                event_id: Set(event_id.map(str::to_owned)),
                topic: Set(topic.to_owned()),
                status: Set(unread.status),
                note: Set(Some(unread.reason.clone())),
                payload: Set(raw.to_owned()),
                received_at: Set(now),
                attempts: Set(0),
                // The job reads it again (the storefront's own redelivery may come first).
                next_attempt_at: Set(
                    (unread.status == DeliveryStatus::SourceUnavailable).then(|| next_redelivery(now, 0))
                ),
            },
        )
        .await?;
        if !inserted {
            return Ok(Delivered::Duplicate);
        }
        tracing::warn!(platform = %shop.platform.domain(), shop = %shop.shop, delivery = delivery_id,
            reason = %unread.reason, status = unread.status.as_str(), "storefront delivery not read");
        metrics::counter!("storefront_deliveries_total", "platform" => shop.platform.domain().as_str(),
            "status" => unread.status.as_str())
        .increment(1);
        Ok(Delivered::New(unread.status))
    }

    /// `replayStorefrontDelivery` (MANAGE_COMMISSIONS, platform-wide): applies a stored delivery
    /// that needs attention again, as it was received (read again from its stored body), e.g.
    /// after the affiliate it names was registered or the reader was fixed. Only a
    /// NEEDS_ATTENTION or SOURCE_UNAVAILABLE delivery is replayed; it ends APPLIED, IGNORED,
    /// NEEDS_ATTENTION or SOURCE_UNAVAILABLE with the new reason. Audited.
    pub async fn replay_storefront_delivery(
        &self,
        actor: &Actor,
        id: &str,
    ) -> ServiceResult<storefront_deliveries::Model> {
        actor.can_admin(Permission::ManageCommissions)?;
        self.replay_delivery(id, actor.subject().unwrap_or("unknown"), true).await
    }

    /// The job that reads again the deliveries whose source did not answer, once due (with
    /// backoff, `next_redelivery`): each is replayed as an admin would, audited as
    /// `storefront-redelivery`. A source still silent after `REDELIVERY_ATTEMPTS` reads leaves
    /// the delivery NEEDS_ATTENTION. Returns how many were read.
    pub async fn retry_storefront_deliveries(&self) -> ServiceResult<usize> {
        let now = clock::now();
        let due = repo::storefronts::due_deliveries_select(now, REDELIVERY_BATCH).all(&self.db).await?;
        let mut read = 0;
        for d in due {
            // Claimed first (a conditional update: another replica that saw it too takes none),
            // for as long as a read may take; the replay sets when it is due next.
            let claimed = storefront_deliveries::Entity::update_many()
                .col_expr(
                    storefront_deliveries::Column::NextAttemptAt,
                    Expr::value(now + chrono::Duration::seconds(REDELIVERY_FIRST_DELAY_SECS * 5)),
                )
                .filter(storefront_deliveries::Column::Id.eq(d.id.clone()))
                .filter(storefront_deliveries::Column::Status.eq(DeliveryStatus::SourceUnavailable))
                .filter(storefront_deliveries::Column::NextAttemptAt.eq(d.next_attempt_at))
                .exec(&self.db)
                .await?;
            if claimed.rows_affected == 0 {
                continue;
            }
            match self.replay_delivery(&d.id, "storefront-redelivery", false).await {
                Ok(_) => read += 1,
                // It could not even be tried (its shop is gone, the database refused): one read
                // counted all the same, so it cannot hold the job's first places for ever. (One
                // read meanwhile by the storefront's redelivery or an admin is no longer
                // SOURCE_UNAVAILABLE, and the count leaves it alone.)
                Err(e) => {
                    tracing::error!(delivery = %d.id, error = %e, "cannot read a kept storefront delivery again");
                    self.defer_delivery(&d, &e.to_string()).await?;
                    read += 1;
                }
            }
        }
        Ok(read)
    }

    /// Counts a read of SOURCE_UNAVAILABLE delivery `d` that could not be made (`why`): due
    /// again after the backoff, or NEEDS_ATTENTION after the last read.
    async fn defer_delivery(&self, d: &storefront_deliveries::Model, why: &str) -> ServiceResult<()> {
        let attempts = d.attempts.saturating_add(1);
        let (status, next, note) = after_unanswered_read(attempts, why, clock::now());
        storefront_deliveries::Entity::update_many()
            .col_expr(storefront_deliveries::Column::Attempts, Expr::value(attempts))
            .col_expr(storefront_deliveries::Column::NextAttemptAt, Expr::value(next))
            .col_expr(storefront_deliveries::Column::Status, Expr::value(status))
            .col_expr(storefront_deliveries::Column::Note, Expr::value(note))
            .filter(storefront_deliveries::Column::Id.eq(d.id.clone()))
            .filter(storefront_deliveries::Column::Status.eq(DeliveryStatus::SourceUnavailable))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// A stored delivery of `shop` by its delivery key, if any.
    pub async fn stored_delivery(
        &self,
        shop: &storefront_shops::Model,
        delivery_id: &str,
    ) -> ServiceResult<Option<storefront_deliveries::Model>> {
        Ok(repo::storefronts::delivery_by_key(&self.db, shop.platform, &shop.shop, delivery_id).await?)
    }

    /// Replays a NEEDS_ATTENTION or SOURCE_UNAVAILABLE delivery (see `replayStorefrontDelivery`),
    /// audited as `who`'s. A source that does not answer again counts one more read (`fresh`:
    /// an admin's replay, which starts the count again), due again after the backoff, or, after
    /// the last read, NEEDS_ATTENTION.
    pub(crate) async fn replay_delivery(
        &self,
        id: &str,
        who: &str,
        fresh: bool,
    ) -> ServiceResult<storefront_deliveries::Model> {
        // An admin replays either kind; the job and the storefront's redelivery only one whose
        // source did not answer (not one held for an admin meanwhile).
        let held = |d: &storefront_deliveries::Model| {
            if d.status == DeliveryStatus::SourceUnavailable || (fresh && d.status == DeliveryStatus::NeedsAttention) {
                Ok(())
            } else {
                Err(ServiceError::Conflict(format!(
                    "delivery {id} is {}: only a delivery that needs attention (or whose source did not answer) is replayed",
                    d.status.as_str()
                )))
            }
        };
        let found = storefront_deliveries::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("storefront delivery {id}")))?;
        held(&found)?;
        let shop = repo::storefronts::shop(&self.db, found.platform, &found.shop)
            .await?
            .ok_or_else(|| ServiceError::Conflict(format!("shop {} is no longer registered", found.shop)))?;
        // Read first (a WooCommerce order's refunds come from the store's API): no transaction
        // is held while a storefront answers.
        let event = self.read_delivery(&shop, &found).await;
        let txn = service_core::db::begin_write(&self.db).await?;
        let delivery = repo::storefronts::delivery_for_update(&*txn, id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("storefront delivery {id}")))?;
        // Replayed meanwhile by another admin: once only.
        held(&delivery)?;
        let (mut status, mut note) = match event {
            Ok(event) => self.apply_delivery(&txn, &shop, &event).await?,
            Err(unread) => (unread.status, Some(unread.reason)),
        };
        let mut am: storefront_deliveries::ActiveModel = delivery.clone().into();
        if status == DeliveryStatus::SourceUnavailable {
            // (The first read was the delivery's own; an admin's replay is a first read again.)
            let attempts = if fresh { 0 } else { delivery.attempts.saturating_add(1) };
            let (after, next, why) = after_unanswered_read(attempts, note.as_deref().unwrap_or_default(), clock::now());
            am.attempts = Set(attempts);
            am.next_attempt_at = Set(next);
            (status, note) = (after, Some(why));
        } else {
            am.next_attempt_at = Set(None);
        }
        am.status = Set(status);
        am.note = Set(note.clone());
        let updated = am.update(&*txn).await?;
        audit::record(
            &*txn,
            AuditEntry {
                actor: who,
                action: "replay_storefront_delivery",
                entity_type: "storefront_delivery",
                entity_id: id,
                malet_id: Some(&shop.malet_id),
                before: Some(serde_json::json!({"status": delivery.status.as_str(), "note": delivery.note})),
                after: Some(serde_json::json!({"status": status.as_str(), "note": note})),
                reason: None,
            },
        )
        .await?;
        txn.commit().await?;
        Ok(updated)
    }

    /// Applies a delivery in `txn` (whose row is already written): takes the locks of the Malet's
    /// shops, then applies it in a savepoint. What cannot apply as it is rolls back to the
    /// savepoint and is the delivery's NEEDS_ATTENTION note.
    async fn apply_delivery(
        &self,
        txn: &DatabaseTransaction,
        shop: &storefront_shops::Model,
        event: &StorefrontEvent,
    ) -> ServiceResult<(DeliveryStatus, Option<String>)> {
        // Deliveries of the Malet's shops on the platform apply one at a time, and before or after
        // any payment of the Malet: every path locks all of them, in the same order, first.
        repo::storefronts::lock_malet_shops(txn, shop.platform, &shop.malet_id).await?;
        let savepoint = txn.begin().await?;
        let applied = match &event.kind {
            StorefrontEventKind::Order(order) => self.apply_storefront_order(&savepoint, shop, order).await,
            StorefrontEventKind::Refund(refund) => {
                self.apply_storefront_refund(&savepoint, shop, refund).await.map(|r| r.map(|()| None))
            }
            StorefrontEventKind::Unhandled => Ok(Err(format!("topic {} is not acted on", event.topic))),
        };
        Ok(match applied {
            Ok(Ok(note)) => {
                savepoint.commit().await?;
                (DeliveryStatus::Applied, note)
            }
            Ok(Err(reason)) if matches!(event.kind, StorefrontEventKind::Unhandled) => {
                savepoint.commit().await?;
                (DeliveryStatus::Ignored, Some(reason))
            }
            Ok(Err(reason)) | Err(ServiceError::BadInput(reason)) => {
                savepoint.rollback().await?;
                tracing::warn!(platform = %event.platform, shop = %shop.shop, delivery = %event.delivery_id, %reason,
                    "storefront delivery needs attention");
                (DeliveryStatus::NeedsAttention, Some(reason))
            }
            Err(e) => return Err(e),
        })
    }

    /// Writes the order as the storefront describes it, then records a payment that waited for
    /// it and brings its entry to the order's refunds. `Ok(Err(reason))`: needs an admin.
    async fn apply_storefront_order(
        &self,
        txn: &DatabaseTransaction,
        shop: &storefront_shops::Model,
        o: &StorefrontOrder,
    ) -> ServiceResult<Result<Option<String>, String>> {
        if let Err(e) = o.validate() {
            return Ok(Err(format!("order {}: {e}", o.order_id)));
        }
        // Buyers can write the attribute that names an affiliate: it is honoured only for a shop
        // an admin lets attribute affiliates, and only for a registered affiliate that is not
        // suspended. Anything else is recorded without an affiliate (the delivery's note says
        // so), never held: a buyer cannot stop an order with a made-up name.
        let (affiliate_id, note) = match &o.affiliate_id {
            None => (None, None),
            Some(named) if !shop.affiliate_attribution => (
                None,
                Some(format!(
                    "the affiliate {named:?} the order names is ignored: shop {} does not attribute affiliates",
                    shop.shop
                )),
            ),
            Some(named) => {
                let found = match domain::ids::AffiliateId::parse(named) {
                    Ok(id) => entity::affiliates::Entity::find_by_id(id.as_str().to_owned()).one(txn).await?,
                    Err(_) => None,
                };
                match found {
                    Some(a) if a.status != entity::enums::AffiliateStatus::Suspended => (Some(a.id), None),
                    _ => (
                        None,
                        Some(format!("the affiliate {named:?} the order names is not an active affiliate: ignored")),
                    ),
                }
            }
        };
        let now = clock::now();
        let existing = repo::storefronts::order_by_key(txn, shop.platform, &shop.shop, &o.order_id).await?;
        let same_numbers = |r: &storefront_orders::Model| {
            r.currency == o.currency.code()
                && (r.subtotal, r.discount, r.tax, r.shipping, r.total)
                    == (o.subtotal, o.discount, o.tax, o.shipping, o.total)
                && r.affiliate_id == affiliate_id
                && r.prices_include_tax == o.prices_include_tax
        };
        let numbers_changed = existing.as_ref().is_some_and(|r| !same_numbers(r));
        let row = match existing {
            // Deliveries can arrive out of order (or be replayed): a version older than the one
            // recorded changes nothing.
            Some(r) if r.source_version.as_deref().zip(o.version.as_deref()).is_some_and(|(had, got)| got < had) => {
                return Ok(Ok(Some(format!(
                    "order {} as of {} is older than the recorded one: not applied",
                    o.order_id,
                    o.version.as_deref().unwrap_or_default()
                ))));
            }
            Some(r) if r.ledger_id.is_some() && !same_numbers(&r) => {
                return Ok(Err(format!(
                    "order {} changed after its payment was recorded (entry {}): an admin adjusts the entry",
                    o.order_id,
                    r.ledger_id.unwrap_or_default()
                )));
            }
            Some(r) => {
                let replace_lines = !same_numbers(&r);
                let id = r.id.clone();
                let mut am: storefront_orders::ActiveModel = r.into();
                am.status = Set(o.status.into());
                am.currency = Set(o.currency.code().to_owned());
                am.subtotal = Set(o.subtotal);
                am.discount = Set(o.discount);
                am.tax = Set(o.tax);
                am.shipping = Set(o.shipping);
                am.total = Set(o.total);
                am.prices_include_tax = Set(o.prices_include_tax);
                am.source_version = Set(o.version.clone().or(am.source_version.take().flatten()));
                am.affiliate_id = Set(affiliate_id.clone());
                am.updated_at = Set(now);
                let row = am.update(txn).await?;
                if replace_lines {
                    storefront_order_lines::Entity::delete_many()
                        .filter(storefront_order_lines::Column::OrderId.eq(id))
                        .exec(txn)
                        .await?;
                    self.insert_lines(txn, &row.id, o).await?;
                }
                row
            }
            None => {
                let row = storefront_orders::ActiveModel {
                    id: Set(uuid::Uuid::now_v7().to_string()),
                    platform: Set(shop.platform),
                    shop: Set(shop.shop.clone()),
                    platform_order_id: Set(o.order_id.clone()),
                    malet_id: Set(shop.malet_id.clone()),
                    currency: Set(o.currency.code().to_owned()),
                    status: Set(o.status.into()),
                    subtotal: Set(o.subtotal),
                    discount: Set(o.discount),
                    tax: Set(o.tax),
                    shipping: Set(o.shipping),
                    total: Set(o.total),
                    prices_include_tax: Set(o.prices_include_tax),
                    source_version: Set(o.version.clone()),
                    affiliate_id: Set(affiliate_id.clone()),
                    ledger_id: Set(None),
                    provider: Set(None),
                    provider_payment_id: Set(None),
                    created_at: Set(now),
                    updated_at: Set(now),
                }
                .insert(txn)
                .await?;
                self.insert_lines(txn, &row.id, o).await?;
                row
            }
        };
        for r in &o.refunds {
            if let Err(reason) = self.insert_refund(txn, shop, r).await? {
                return Ok(Err(reason));
            }
        }
        // A storefront that collects the money itself (TikTok Shop) has no payment of ours: the
        // commission is owed by the seller (`receivables`).
        if shop.platform.domain().seller_collected() {
            return Ok(self.apply_receivable(txn, shop, &row, o, numbers_changed).await?.map(|n| n.or(note)));
        }
        self.apply_waiting_payments(txn, &row).await?;
        // The row again: a waiting payment may just have been recorded for it.
        if let Some(row) = repo::storefronts::order_by_key(txn, shop.platform, &shop.shop, &o.order_id).await? {
            return Ok(self.sync_item_refunds(txn, &row).await?.map(|()| note));
        }
        Ok(Ok(note))
    }

    async fn insert_lines(&self, txn: &DatabaseTransaction, order_id: &str, o: &StorefrontOrder) -> ServiceResult<()> {
        if o.lines.is_empty() {
            return Ok(());
        }
        let mut seen = std::collections::HashSet::new();
        let rows =
            o.lines.iter().filter(|l| seen.insert(l.line_id.clone())).map(|l| storefront_order_lines::ActiveModel {
                id: Set(uuid::Uuid::now_v7().to_string()),
                order_id: Set(order_id.to_owned()),
                line_id: Set(l.line_id.clone()),
                product: Set(l.product.clone()),
                quantity: Set(l.quantity),
                unit_price: Set(l.unit_price),
                amount: Set(l.amount),
                vendor: Set(l.vendor.clone()),
                discount: Set(l.discount),
                tax: Set(l.tax),
            });
        storefront_order_lines::Entity::insert_many(rows).exec_without_returning(txn).await?;
        Ok(())
    }

    /// Records a storefront refund once (by its id). `Ok(Err(reason))` when it cannot be.
    async fn insert_refund(
        &self,
        txn: &DatabaseTransaction,
        shop: &storefront_shops::Model,
        r: &StorefrontRefund,
    ) -> ServiceResult<Result<(), String>> {
        storefront_refunds::Entity::insert(storefront_refunds::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            platform: Set(shop.platform),
            shop: Set(shop.shop.clone()),
            platform_order_id: Set(r.order_id.clone()),
            refund_id: Set(r.refund_id.clone()),
            currency: Set(r.currency.code().to_owned()),
            base: Set(r.base),
            tax: Set(r.tax),
            amount: Set(r.amount),
            created_at: Set(clock::now()),
        })
        .on_conflict_do_nothing_on([
            storefront_refunds::Column::Platform,
            storefront_refunds::Column::Shop,
            storefront_refunds::Column::PlatformOrderId,
            storefront_refunds::Column::RefundId,
        ])
        .exec_without_returning(txn)
        .await?;
        Ok(Ok(()))
    }

    /// A refund the storefront made: recorded once; the order's entry (once its payment is
    /// recorded) takes back the refunded items' share.
    async fn apply_storefront_refund(
        &self,
        txn: &DatabaseTransaction,
        shop: &storefront_shops::Model,
        r: &StorefrontRefund,
    ) -> ServiceResult<Result<(), String>> {
        let order = repo::storefronts::order_by_key(txn, shop.platform, &shop.shop, &r.order_id).await?;
        if let Some(o) = &order
            && o.currency != r.currency.code()
        {
            return Ok(Err(format!("refund {} is in {}, its order in {}", r.refund_id, r.currency.code(), o.currency)));
        }
        if let Err(reason) = self.insert_refund(txn, shop, r).await? {
            return Ok(Err(reason));
        }
        match order {
            Some(o) => self.sync_item_refunds(txn, &o).await,
            // Kept for its order: applied when the order and its payment are recorded.
            None => Ok(Ok(())),
        }
    }

    /// Brings the order's entry to the storefront's refunds of it (cumulative, so repeated or
    /// reordered deliveries converge).
    async fn sync_item_refunds(
        &self,
        txn: &DatabaseTransaction,
        order: &storefront_orders::Model,
    ) -> ServiceResult<Result<(), String>> {
        let Some(ledger_id) = &order.ledger_id else { return Ok(Ok(())) };
        let refunds = repo::storefronts::refunds_of(txn, order).await?;
        if refunds.is_empty() {
            return Ok(Ok(()));
        }
        let sum = |f: &dyn Fn(&storefront_refunds::Model) -> i64| {
            refunds
                .iter()
                .try_fold(0i64, |acc, r| acc.checked_add(f(r)))
                .ok_or_else(|| ServiceError::BadInput("refunds overflow".into()))
        };
        let (base, amount) = (sum(&|r| r.base_before_tax(order))?, sum(&|r| r.amount)?);
        let Some(entry) = repo::ledger::for_update(txn, repo::ledger::by_id_select(ledger_id)).await? else {
            return Ok(Err(format!("ledger entry {ledger_id} of order {} is missing", order.platform_order_id)));
        };
        // (An entry without an items base, e.g. under a rule that commissions tax or shipping,
        // shares its refunds by money: the items' numbers are not its to check.)
        if (entry.items_base > 0 && base > entry.items_base) || amount > entry.gross_amount {
            return Ok(Err(format!(
                "the storefront's refunds of order {} ({amount}, items {base}) exceed the order (gross {}, items {})",
                order.platform_order_id, entry.gross_amount, entry.items_base
            )));
        }
        self.apply_item_refunds(txn, &entry, base, amount).await?;
        Ok(Ok(()))
    }

    /// Records the payments that waited for this order (in its transaction), each as its inbox
    /// event would have been, and marks their inbox events with the outcome.
    async fn apply_waiting_payments(
        &self,
        txn: &DatabaseTransaction,
        order: &storefront_orders::Model,
    ) -> ServiceResult<()> {
        for wait in repo::storefronts::waits_for(txn, order).await? {
            let done = storefront_payment_waits::Entity::delete_by_id(wait.id.clone());
            // The inbox locks an event before it takes the shops' locks (a replay of the payment):
            // one it holds now is skipped here, not waited for (that order would deadlock), and
            // that replay records it, seeing this order.
            let Some(row) = repo::storefronts::waiting_event(txn, super::webhooks::RECEIVER, &wait).await? else {
                continue;
            };
            // Only an event still waiting is applied here: one an admin or a later delivery
            // already settled (processed, ignored) has nothing left to wait for.
            if row.status != WebhookStatus::NeedsAttention {
                done.exec(txn).await?;
                continue;
            }
            // An event that does not read stays waiting, with its exception, for an admin.
            let event = match providers::events::normalize(wait.provider.kind(), &row.payload) {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(event = %row.id, error = %e, "a waiting payment's event does not read");
                    continue;
                }
            };
            let EventKind::PaymentSucceeded(pi) = event.kind.clone() else {
                done.exec(txn).await?;
                continue;
            };
            let outcome = self.on_payment_succeeded(txn, &event, &pi, &row.payload).await.map_err(|e| match e {
                service_core::webhook::ApplyError::Db(d) => ServiceError::Db(d),
                other => ServiceError::Internal(other.to_string()),
            })?;
            let (status, error) = match outcome {
                Outcome::Applied => (WebhookStatus::Processed, None),
                Outcome::Ignored(why) => (WebhookStatus::Ignored, Some(why)),
                Outcome::NeedsAttention(why) => (WebhookStatus::NeedsAttention, Some(why)),
            };
            // Recorded (or settled): waiting is over. A payment that still needs an admin (one
            // that disagrees with its order) keeps waiting, so a corrected order applies it.
            if status != WebhookStatus::NeedsAttention {
                done.exec(txn).await?;
            }
            webhook_events::Entity::update_many()
                .col_expr(webhook_events::Column::Status, Expr::value(status))
                .col_expr(webhook_events::Column::LastError, Expr::value(error))
                .col_expr(webhook_events::Column::ProcessedAt, Expr::value(Some(clock::now())))
                .filter(webhook_events::Column::Id.eq(row.id))
                .exec(txn)
                .await?;
        }
        Ok(())
    }

    /// How a succeeded payment of `malet` stands towards the storefront order its metadata
    /// names. A payment that finds no order yet is kept waiting for it.
    pub(crate) async fn storefront_join(
        &self,
        txn: &DatabaseTransaction,
        event: &ProviderEvent,
        payment: (&str, i64, domain::money::Currency),
        metadata: &PaymentMetadata,
        carried: &BTreeMap<String, String>,
        malet_id: &str,
    ) -> Result<Join, DbErr> {
        let (payment_id, amount, currency) = payment;
        let Some(platform) = metadata.platform.as_deref().and_then(|p| p.parse::<Platform>().ok()) else {
            return Ok(Join::NotStorefront);
        };
        if !WEBHOOK_PLATFORMS.contains(&platform) {
            return Ok(Join::NotStorefront);
        }
        // The same lock the shop's deliveries take: an order arriving now is seen, or sees us.
        if repo::storefronts::lock_malet_shops(txn, platform.into(), malet_id).await?.is_empty() {
            return Ok(Join::NotStorefront);
        }
        let mut orders = repo::storefronts::orders_of_malet(txn, platform.into(), malet_id, &metadata.order_id).await?;
        if orders.len() > 1 {
            return Ok(Join::Attention(format!(
                "{platform} order {} exists in two of Malet {malet_id}'s shops: which one this payment is for needs an admin",
                metadata.order_id
            )));
        }
        let Some(order) = orders.pop() else {
            storefront_payment_waits::Entity::insert(storefront_payment_waits::ActiveModel {
                id: Set(uuid::Uuid::now_v7().to_string()),
                platform: Set(platform.into()),
                malet_id: Set(malet_id.to_owned()),
                platform_order_id: Set(metadata.order_id.clone()),
                provider: Set(event.provider.into()),
                provider_payment_id: Set(payment_id.to_owned()),
                webhook_event_id: Set(event.id.clone()),
                created_at: Set(clock::now()),
            })
            .on_conflict_do_nothing_on([
                storefront_payment_waits::Column::Platform,
                storefront_payment_waits::Column::MaletId,
                storefront_payment_waits::Column::PlatformOrderId,
                storefront_payment_waits::Column::Provider,
                storefront_payment_waits::Column::ProviderPaymentId,
            ])
            .exec_without_returning(txn)
            .await?;
            return Ok(Join::Attention(format!(
                "waiting for {platform} order {}: the entry is recorded when the storefront's order arrives",
                metadata.order_id
            )));
        };
        let mut diffs = Vec::new();
        if !order.currency.eq_ignore_ascii_case(currency.code()) {
            diffs.push(format!("currency {} (order: {})", currency.code(), order.currency));
        }
        if order.total != amount {
            diffs.push(format!("amount {amount} (order total: {})", order.total));
        }
        let fields = [
            ("subtotal", metadata.subtotal.unwrap_or_default(), order.subtotal),
            ("discount", metadata.discount, order.discount),
            ("tax", metadata.tax, order.tax),
            ("shipping", metadata.shipping, order.shipping),
        ];
        for (field, got, want) in fields {
            if carried.contains_key(field) && got != want {
                diffs.push(format!("metadata.{field} {got} (order: {want})"));
            }
        }
        if carried.contains_key("affiliateId") && metadata.affiliate_id != order.affiliate_id {
            diffs.push(format!("metadata.affiliateId {:?} (order: {:?})", metadata.affiliate_id, order.affiliate_id));
        }
        if !diffs.is_empty() {
            // The order shows the payment that disagrees with it, and its exception.
            if order.ledger_id.is_none() {
                let mut am: storefront_orders::ActiveModel = order.into();
                am.provider = Set(Some(event.provider.into()));
                am.provider_payment_id = Set(Some(payment_id.to_owned()));
                am.updated_at = Set(clock::now());
                am.update(txn).await?;
            }
            return Ok(Join::Attention(format!(
                "the payment disagrees with {platform} order {}: {}",
                metadata.order_id,
                diffs.join(", ")
            )));
        }
        // Refunds the storefront reported before must fit the order, or the entry recorded now
        // could not take them: checked before anything is recorded.
        let refunds = repo::storefronts::refunds_of(txn, &order).await?;
        let base = refunds.iter().try_fold(0i64, |acc, r| acc.checked_add(r.base_before_tax(&order)));
        let money = refunds.iter().try_fold(0i64, |acc, r| acc.checked_add(r.amount));
        let fits =
            base.is_some_and(|b| b <= order.subtotal - order.discount) && money.is_some_and(|m| m <= order.total);
        if !fits {
            return Ok(Join::Attention(format!(
                "the storefront's refunds of {platform} order {} exceed the order: an admin looks at them first",
                metadata.order_id
            )));
        }
        Ok(Join::Order(Box::new(order)))
    }

    /// Links an order to the entry just recorded for its payment, and applies refunds the
    /// storefront reported before.
    pub(crate) async fn link_storefront_order(
        &self,
        txn: &DatabaseTransaction,
        order: &storefront_orders::Model,
        ledger_id: &str,
        event: &ProviderEvent,
        payment_id: &str,
    ) -> ServiceResult<()> {
        let mut am: storefront_orders::ActiveModel = order.clone().into();
        am.ledger_id = Set(Some(ledger_id.to_owned()));
        am.provider = Set(Some(event.provider.into()));
        am.provider_payment_id = Set(Some(payment_id.to_owned()));
        am.updated_at = Set(clock::now());
        let linked = am.update(txn).await?;
        if let Err(reason) = self.sync_item_refunds(txn, &linked).await? {
            return Err(ServiceError::BadInput(reason));
        }
        Ok(())
    }

    /// `storefrontOrders`: a page of a Malet's storefront orders (VIEW_REVENUE on the Malet,
    /// checked before anything is read), newest first, each with its lines, the storefront's
    /// refunds, its ledger entry and the open exception of its payment.
    pub async fn storefront_orders(
        &self,
        actor: &Actor,
        malet: &MaletId,
        platform: Option<Platform>,
        limit: i32,
        offset: i32,
    ) -> ServiceResult<Vec<OrderView>> {
        actor.can(Permission::ViewRevenue, malet.as_str())?;
        if !(1..=MAX_ORDER_PAGE).contains(&limit) {
            return Err(ServiceError::BadInput(format!("limit must be between 1 and {MAX_ORDER_PAGE}")));
        }
        let offset = u64::try_from(offset).map_err(|_| ServiceError::BadInput("offset must not be negative".into()))?;
        let orders = repo::storefronts::page(
            &self.db,
            malet.as_str(),
            platform.map(Into::into),
            u64::try_from(limit).unwrap_or(100),
            offset,
        )
        .await?;
        if orders.is_empty() {
            return Ok(Vec::new());
        }
        let mut lines: HashMap<String, Vec<storefront_order_lines::Model>> = HashMap::new();
        for l in repo::storefronts::lines_of(&self.db, orders.iter().map(|o| o.id.clone()).collect()).await? {
            lines.entry(l.order_id.clone()).or_default().push(l);
        }
        let ledger_ids: Vec<String> = orders.iter().filter_map(|o| o.ledger_id.clone()).collect();
        let mut entries: HashMap<String, commission_ledger::Model> = commission_ledger::Entity::find()
            .filter(commission_ledger::Column::Id.is_in(ledger_ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|e| (e.id.clone(), e))
            .collect();
        let refunds = repo::storefronts::refunds_of_orders(&self.db, &orders).await?;
        let waits = repo::storefronts::waits_of_orders(&self.db, malet.as_str(), &orders).await?;
        // The payments that named each order: the recorded one, or ones waiting for it.
        let payments_of = |o: &storefront_orders::Model| -> Vec<(entity::enums::Provider, String)> {
            let recorded = o.provider.zip(o.provider_payment_id.clone());
            let waiting = waits
                .iter()
                .filter(|w| (w.platform, &w.platform_order_id) == (o.platform, &o.platform_order_id))
                .map(|w| (w.provider, w.provider_payment_id.clone()));
            recorded.into_iter().chain(waiting).collect()
        };
        let payment_ids: Vec<String> =
            orders.iter().flat_map(|o| payments_of(o).into_iter().map(|(_, id)| id)).collect();
        let open: Vec<payment_exceptions::Model> = payment_exceptions::Entity::find()
            .filter(payment_exceptions::Column::ProviderPaymentId.is_in(payment_ids))
            .filter(payment_exceptions::Column::ResolvedAt.is_null())
            .order_by_desc(payment_exceptions::Column::CreatedAt)
            .all(&self.db)
            .await?;
        let order_ids: Vec<String> = orders.iter().map(|o| o.id.clone()).collect();
        let mut receivables = super::receivables::receivables_of_orders(&self.db, &order_ids).await?;
        let mut views = Vec::with_capacity(orders.len());
        for order in orders {
            let mine: Vec<&storefront_refunds::Model> = refunds
                .iter()
                .filter(|r| {
                    (r.platform, &r.shop, &r.platform_order_id)
                        == (order.platform, &order.shop, &order.platform_order_id)
                })
                .collect();
            // The open exception of the order's payment (or of one still waiting for it).
            let exception = payments_of(&order).into_iter().find_map(|(provider, id)| {
                open.iter().find(|e| e.provider == provider && e.provider_payment_id == id).map(|e| e.reason.clone())
            });
            views.push(OrderView {
                lines: lines.remove(&order.id).unwrap_or_default(),
                refunded_base: mine.iter().map(|r| r.base_before_tax(&order)).sum(),
                refunded_amount: mine.iter().map(|r| r.amount).sum(),
                entry: order.ledger_id.as_ref().and_then(|id| entries.remove(id)),
                exception,
                receivable: receivables.remove(&order.id),
                order,
            });
        }
        Ok(views)
    }
}

impl Murchases {
    /// A stored delivery read again as its platform's event.
    async fn read_delivery(
        &self,
        shop: &storefront_shops::Model,
        d: &storefront_deliveries::Model,
    ) -> Result<StorefrontEvent, Unread> {
        match d.platform.domain() {
            Platform::Shopify => {
                providers::shopify::transformers::normalize(&d.shop, &d.delivery_id, &d.topic, &d.payload)
                    .map_err(|e| Unread::attention(e.0))
            }
            Platform::Woocommerce => self.woocommerce_event(shop, &d.delivery_id, &d.topic, &d.payload).await,
            Platform::Tiktok => {
                let n =
                    providers::tiktok::transformers::notification(&d.payload).map_err(|e| Unread::attention(e.0))?;
                self.tiktok_event(shop, &d.delivery_id, &n).await
            }
            other => Err(Unread::attention(format!("{other} deliveries are not read yet"))),
        }
    }

    /// The REST client of a WooCommerce shop registered with API credentials (`None` without).
    pub fn woocommerce_client(&self, shop: &storefront_shops::Model) -> Result<Option<WooClient>, String> {
        let (Some(key_env), Some(secret_env)) = (&shop.api_key_env, &shop.api_secret_env) else { return Ok(None) };
        let read = |name: &str| {
            self.storefront_secrets.var(name).ok_or_else(|| {
                format!("environment variable {name} (an API credential of shop {}) is not set", shop.shop)
            })
        };
        let key = secrecy::ExposeSecret::expose_secret(&read(key_env)?).to_owned();
        let client = WooClient::new(&shop.shop, key, read(secret_env)?, self.storefront_secrets.loopback_stores);
        client.map(Some).map_err(|e| e.to_string())
    }

    /// A verified WooCommerce delivery as a neutral event. Its order's refunds carry no lines, so
    /// they are read from the shop's REST API; a shop without API credentials gives the order
    /// without them (the payment provider's refunds are then shared by money). `Err`: why it
    /// cannot be read now: SOURCE_UNAVAILABLE when the store's API did not answer (the job reads
    /// it again; WooCommerce never redelivers), else kept for an admin, who replays it.
    pub async fn woocommerce_event(
        &self,
        shop: &storefront_shops::Model,
        delivery_id: &str,
        topic: &str,
        body: &str,
    ) -> Result<StorefrontEvent, Unread> {
        use providers::woocommerce::transformers;
        if !transformers::is_order_topic(topic) {
            return transformers::normalize(&shop.shop, delivery_id, topic, body, Vec::new())
                .map_err(|e| Unread::attention(e.0));
        }
        // Read once: the refunds to ask the store for, and the order itself.
        let d = transformers::order(body).map_err(|e| Unread::attention(e.0))?;
        let mut refunds = Vec::new();
        if !d.refund_ids.is_empty()
            && let Some(client) = self.woocommerce_client(shop).map_err(Unread::attention)?
        {
            refunds = client.refunds(&d.order.order_id, d.order.currency).await.map_err(|e| {
                let reason = format!("the refunds of order {} could not be read ({e})", d.order.order_id);
                if e.is_transient() {
                    Unread { status: DeliveryStatus::SourceUnavailable, reason: format!("{reason}: read again later") }
                } else {
                    Unread::attention(format!("{reason}: replay once it is fixed"))
                }
            })?;
        }
        Ok(transformers::order_event(&shop.shop, delivery_id, topic, d, refunds))
    }

    /// The Partner API client of a TikTok shop (its cipher and access token from the variables
    /// it was registered with).
    pub fn tiktok_client(&self, shop: &storefront_shops::Model) -> Result<TikTokClient, String> {
        let app = self.storefront_secrets.tiktok.as_ref().ok_or("TIKTOK_APP_KEY / TIKTOK_APP_SECRET are not set")?;
        let (Some(cipher_env), Some(token_env)) = (&shop.api_key_env, &shop.api_secret_env) else {
            return Err(format!("TikTok shop {} was registered without API credentials", shop.shop));
        };
        let read = |name: &str| {
            self.storefront_secrets.var(name).ok_or_else(|| {
                format!("environment variable {name} (an API credential of shop {}) is not set", shop.shop)
            })
        };
        let credentials = TikTokShopCredentials {
            app_key: app.app_key.clone(),
            app_secret: app.app_secret.clone(),
            shop_cipher: secrecy::ExposeSecret::expose_secret(&read(cipher_env)?).to_owned(),
            access_token: read(token_env)?,
        };
        TikTokClient::new(&app.api_base, credentials, self.storefront_secrets.loopback_stores)
            .map_err(|e| e.to_string())
    }

    /// A verified TikTok Shop notification as a neutral event: a notification about an order
    /// (its status, a cancellation or a return) reads the order's detail from the Partner API,
    /// since it carries no amounts; other types are recorded and not acted on. `Err`: why it
    /// cannot be read now, and whether trying again later may work (the API did not answer).
    pub async fn tiktok_event(
        &self,
        shop: &storefront_shops::Model,
        delivery_id: &str,
        n: &providers::tiktok::transformers::Notification,
    ) -> Result<StorefrontEvent, Unread> {
        let permanent = Unread::attention;
        if n.shop_id != shop.shop {
            return Err(permanent(format!("the notification is of shop {}, not {}", n.shop_id, shop.shop)));
        }
        let topic = n.kind.topic();
        let kind = match (&n.kind, &n.order_id) {
            (k, Some(order_id)) if k.concerns_order() => {
                let client = self.tiktok_client(shop).map_err(permanent)?;
                let unread = |e: providers::tiktok::client::TikTokError| {
                    if e.is_transient() {
                        Unread {
                            status: DeliveryStatus::SourceUnavailable,
                            reason: format!(
                                "order {order_id} could not be read from TikTok Shop ({e}): TikTok's redelivery or a replay reads it"
                            ),
                        }
                    } else {
                        permanent(format!(
                            "order {order_id} could not be read from TikTok Shop ({e}): replay once it is fixed"
                        ))
                    }
                };
                let (_, mut order) = client.order_detail(order_id).await.map_err(unread)?;
                // A return's or a cancellation's notification: the order's refunds (its
                // completed returns and cancellations) with it, kept with the order (a later
                // status change reads the detail alone).
                if matches!(n.kind, NotificationKind::ReturnStatusChange | NotificationKind::CancellationStatusChange) {
                    order.refunds = client.refunds(order_id, order.currency).await.map_err(unread)?;
                }
                StorefrontEventKind::Order(order)
            }
            _ => StorefrontEventKind::Unhandled,
        };
        Ok(StorefrontEvent {
            platform: Platform::Tiktok,
            shop: shop.shop.clone(),
            delivery_id: delivery_id.to_owned(),
            topic,
            kind,
        })
    }

    /// `backfillStorefrontOrders` (MANAGE_COMMISSIONS, platform-wide): pulls the orders a
    /// WooCommerce shop created in [`from`, `to`) through its REST API and applies each as a
    /// delivery, so orders whose webhook was missed (WooCommerce disables a failing webhook and
    /// never redelivers) are recorded. Idempotent: each order is delivered under
    /// `backfill:<order id>:<date_modified_gmt>`, so a second run over the same window applies
    /// nothing, and an order already received converges to the same record.
    pub async fn backfill_storefront_orders(
        &self,
        actor: &Actor,
        platform: Platform,
        shop: &str,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> ServiceResult<BackfillReport> {
        actor.can_admin(Permission::ManageCommissions)?;
        if platform != Platform::Woocommerce {
            return Err(ServiceError::BadInput(format!("{platform} orders are not backfilled (only WooCommerce's)")));
        }
        if from >= to || to - from > chrono::Duration::days(MAX_BACKFILL_DAYS) {
            return Err(ServiceError::BadInput(format!(
                "the window must end after it starts and span at most {MAX_BACKFILL_DAYS} days"
            )));
        }
        let shop = self
            .storefront_shop(platform, shop)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("{platform} shop {shop}")))?;
        let client = self.woocommerce_client(&shop).map_err(ServiceError::BadInput)?.ok_or_else(|| {
            ServiceError::BadInput(format!("shop {} has no API credentials (apiKeyEnv, apiSecretEnv)", shop.shop))
        })?;
        let unavailable = |e: providers::woocommerce::client::WooError| {
            ServiceError::Provider(domain::provider::ProviderError::Unavailable(e.to_string()))
        };
        let mut report = BackfillReport { seen: 0, created: 0, existing: 0, needs_attention: 0, complete: true };
        let mut page = 1u32;
        loop {
            let (orders, pages) = client.orders(from, to, page).await.map_err(unavailable)?;
            for (raw, d) in orders {
                report.seen += 1;
                let order_id = d.order.order_id.clone();
                let existed =
                    repo::storefronts::order_by_key(&self.db, shop.platform, &shop.shop, &order_id).await?.is_some();
                let delivery_id = format!("backfill:{order_id}:{}", d.modified.as_deref().unwrap_or("-"));
                let refunds = if d.refund_ids.is_empty() {
                    Vec::new()
                } else {
                    client.refunds(&order_id, d.order.currency).await.map_err(unavailable)?
                };
                let event = providers::woocommerce::transformers::order_event(
                    &shop.shop,
                    &delivery_id,
                    "order.updated",
                    d,
                    refunds,
                );
                match self.receive_storefront(&shop, &event, None, &raw).await? {
                    Delivered::Duplicate => report.existing += 1,
                    Delivered::New(DeliveryStatus::NeedsAttention) => report.needs_attention += 1,
                    Delivered::New(_) if existed => report.existing += 1,
                    Delivered::New(_) => report.created += 1,
                }
            }
            if page >= pages {
                break;
            }
            if page >= MAX_BACKFILL_PAGES {
                // Said, not hidden: the admin runs the rest of the window as smaller windows.
                report.complete = false;
                break;
            }
            page += 1;
        }
        tracing::info!(shop = %shop.shop, ?report, "storefront backfill");
        Ok(report)
    }
}

/// A backfill's window at most (a month of orders).
pub const MAX_BACKFILL_DAYS: i64 = 31;
/// Pages of a backfill at most (of `PAGE_SIZE` orders each).
pub const MAX_BACKFILL_PAGES: u32 = 100;

/// What a backfill did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackfillReport {
    /// Orders the API listed in the window.
    pub seen: u32,
    /// Orders recorded that had no record before (the missed deliveries).
    pub created: u32,
    /// Orders that had a record already (brought to the storefront's numbers and refunds, which
    /// a missed `order.updated` may have changed), or were already backfilled.
    pub existing: u32,
    /// Orders held for an admin (see `storefrontDeliveries`).
    pub needs_attention: u32,
    /// False when the window had more orders than one backfill reads (`MAX_BACKFILL_PAGES`
    /// pages): run it again over smaller windows.
    pub complete: bool,
}

impl Murchases {
    /// `storefrontDeliveries` (MANAGE_COMMISSIONS, platform-wide): storefront deliveries, newest
    /// first, optionally of one status (NEEDS_ATTENTION: what an admin must look at).
    pub async fn storefront_deliveries(
        &self,
        actor: &Actor,
        status: Option<DeliveryStatus>,
        limit: i32,
        offset: i32,
    ) -> ServiceResult<Vec<storefront_deliveries::Model>> {
        actor.can_admin(Permission::ManageCommissions)?;
        if !(1..=MAX_ORDER_PAGE).contains(&limit) {
            return Err(ServiceError::BadInput(format!("limit must be between 1 and {MAX_ORDER_PAGE}")));
        }
        let offset = u64::try_from(offset).map_err(|_| ServiceError::BadInput("offset must not be negative".into()))?;
        let mut select = storefront_deliveries::Entity::find();
        if let Some(status) = status {
            select = select.filter(storefront_deliveries::Column::Status.eq(status));
        }
        Ok(select
            .order_by_desc(storefront_deliveries::Column::ReceivedAt)
            .order_by_desc(storefront_deliveries::Column::Id)
            .limit(u64::try_from(limit).unwrap_or(100))
            .offset(offset)
            .all(&self.db)
            .await?)
    }
}
