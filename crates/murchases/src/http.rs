//! Storefront webhook routes (issue 14): `POST /webhooks/shopify`, `POST /webhooks/woocommerce`
//! (whose unsigned setup ping, `webhook_id=<id>`, answers 200 and stores nothing) and
//! `POST /webhooks/tiktok` (signed with the TikTok app's secret; the shop is named in the body,
//! read only after the signature verified, and the order's detail is read from TikTok's API: if
//! that API does not answer, the delivery is kept and answered 503, and TikTok's redelivery reads
//! it again). The shop is
//! looked up from its header and the signature checked with that shop's secret before the body is parsed; a
//! shop nobody registered answers exactly like a bad signature (a sender cannot probe which
//! shops are registered), and a missing header is refused: 4xx, nothing stored. A verified
//! delivery whose body does not read is stored as NEEDS_ATTENTION (an admin replays it once
//! fixed) rather than refused, so the storefront does not retry it nor drop the subscription;
//! a duplicate delivery id is acknowledged and changes nothing. Only a database that cannot
//! store the delivery answers 503 (the storefront then delivers it again).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use domain::storefront::Platform;
use providers::shopify;
use secrecy::ExposeSecret as _;

use crate::service::Murchases;
use crate::service::storefronts::{Delivered, Unread};
use entity::enums::DeliveryStatus;

/// What a sender learns of a refused signature, or of a shop nobody registered.
const SIGNATURE_REFUSED: &str = "the webhook signature does not verify for this shop";

fn reject(status: StatusCode, code: &str, message: &str) -> Response {
    metrics::counter!("webhook_rejected_total", "reason" => code.to_ascii_lowercase()).increment(1);
    (status, axum::Json(serde_json::json!({"error": {"code": code, "message": message}}))).into_response()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// The storefront routes, body-limited like the providers' webhooks (413 above the limit).
pub fn storefront_routes(service: Murchases, body_limit: usize) -> Router {
    Router::new()
        .route("/webhooks/shopify", post(shopify_webhook))
        .route("/webhooks/woocommerce", post(woocommerce_webhook))
        .route("/webhooks/tiktok", post(tiktok_webhook))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(body_limit))
        .with_state(service)
}

async fn shopify_webhook(State(service): State<Murchases>, headers: HeaderMap, body: Bytes) -> Response {
    let missing = |name: &str| reject(StatusCode::BAD_REQUEST, "MISSING_HEADER", &format!("missing {name} header"));
    let Some(shop_domain) = header(&headers, shopify::SHOP_HEADER) else { return missing("X-Shopify-Shop-Domain") };
    let (shop, secret) = match shop_and_secret(&service, Platform::Shopify, shop_domain).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    if let Err(e) =
        shopify::webhook::verify(secret.expose_secret().as_bytes(), &body, header(&headers, shopify::HMAC_HEADER))
    {
        tracing::info!(shop = %shop.shop, reason = %e, "Shopify webhook signature rejected");
        return reject(StatusCode::BAD_REQUEST, "INVALID_SIGNATURE", SIGNATURE_REFUSED);
    }
    let Some(delivery) = header(&headers, shopify::WEBHOOK_ID_HEADER) else { return missing("X-Shopify-Webhook-Id") };
    let Some(topic) = header(&headers, shopify::TOPIC_HEADER) else { return missing("X-Shopify-Topic") };
    let event_id = header(&headers, shopify::EVENT_ID_HEADER).map(str::to_owned);
    let raw = String::from_utf8_lossy(&body).into_owned();
    let event = match std::str::from_utf8(&body) {
        Ok(text) => {
            shopify::transformers::normalize(&shop.shop, delivery, topic, text).map_err(|e| Unread::attention(e.0))
        }
        Err(_) => Err(Unread::attention("Shopify: the body is not UTF-8".to_owned())),
    };
    store(service, shop, event, (delivery.to_owned(), topic.to_owned(), event_id), raw).await
}

/// The stored-and-applied answer of a delivery (the same for every storefront).
async fn store(
    service: Murchases,
    shop: entity::storefront_shops::Model,
    event: Result<domain::storefront::StorefrontEvent, Unread>,
    key: (String, String, Option<String>),
    raw: String,
) -> Response {
    let platform = shop.platform.domain();
    // Stored and applied in their own task: a client that hangs up does not cancel them halfway.
    let outcome = tokio::spawn(async move {
        match event {
            Ok(event) => service.receive_storefront(&shop, &event, key.2.as_deref(), &raw).await,
            Err(unread) => {
                let key = (key.0.as_str(), key.1.as_str(), key.2.as_deref());
                service.receive_unreadable_storefront(&shop, key, &raw, &unread).await
            }
        }
    })
    .await;
    match outcome {
        Ok(Ok(Delivered::Duplicate)) => {
            (StatusCode::OK, axum::Json(serde_json::json!({"received": true, "duplicate": true}))).into_response()
        }
        // Kept, and answered so that the storefront delivers it again (which reads it again):
        // TikTok redelivers. WooCommerce does not (it counts failures and disables the webhook
        // after a few), so its delivery is answered 200 and read again by the job.
        Ok(Ok(Delivered::New(DeliveryStatus::SourceUnavailable))) if platform != Platform::Woocommerce => {
            reject(StatusCode::SERVICE_UNAVAILABLE, "UPSTREAM_UNAVAILABLE", "try again")
        }
        Ok(Ok(Delivered::New(status))) => {
            (StatusCode::OK, axum::Json(serde_json::json!({"received": true, "status": status.as_str()})))
                .into_response()
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot store storefront delivery");
            reject(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "try again")
        }
        Err(e) => {
            tracing::error!(error = %e, "storefront delivery task failed");
            reject(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "try again")
        }
    }
}

/// The registered shop a delivery names and its secret, or the answer that refuses it.
async fn shop_and_secret(
    service: &Murchases,
    platform: Platform,
    name: &str,
) -> Result<(entity::storefront_shops::Model, secrecy::SecretString), Response> {
    let shop = match service.storefront_shop(platform, name).await {
        Ok(Some(shop)) => shop,
        Ok(None) => {
            tracing::info!(%platform, shop = %name, "storefront webhook from a shop that is not registered");
            return Err(reject(StatusCode::BAD_REQUEST, "INVALID_SIGNATURE", SIGNATURE_REFUSED));
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read storefront shops");
            return Err(reject(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "try again"));
        }
    };
    match service.storefront_secret(&shop) {
        Ok(secret) => Ok((shop, secret)),
        Err(why) => {
            // Our configuration, not the sender's fault: answered 503 until it is fixed.
            tracing::error!(shop = %shop.shop, %why, "no webhook secret for a registered shop");
            Err(reject(
                StatusCode::SERVICE_UNAVAILABLE,
                "NOT_CONFIGURED",
                "this shop's webhook secret is not configured",
            ))
        }
    }
}

async fn woocommerce_webhook(State(service): State<Murchases>, headers: HeaderMap, body: Bytes) -> Response {
    use providers::woocommerce;
    let signature = header(&headers, woocommerce::SIGNATURE_HEADER);
    // The setup ping is unsigned and carries nothing: WooCommerce activates the webhook on a 200.
    if signature.is_none() && woocommerce::webhook::is_ping(&body) {
        return (StatusCode::OK, axum::Json(serde_json::json!({"received": true, "ping": true}))).into_response();
    }
    let missing = |name: &str| reject(StatusCode::BAD_REQUEST, "MISSING_HEADER", &format!("missing {name} header"));
    let Some(source) = header(&headers, woocommerce::SOURCE_HEADER) else { return missing("X-WC-Webhook-Source") };
    let (shop, secret) = match shop_and_secret(&service, Platform::Woocommerce, source).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    if let Err(e) = woocommerce::webhook::verify(secret.expose_secret().as_bytes(), &body, signature) {
        tracing::info!(shop = %shop.shop, reason = %e, "WooCommerce webhook signature rejected");
        return reject(StatusCode::BAD_REQUEST, "INVALID_SIGNATURE", SIGNATURE_REFUSED);
    }
    let Some(delivery) = header(&headers, woocommerce::DELIVERY_ID_HEADER) else {
        return missing("X-WC-Webhook-Delivery-ID");
    };
    let Some(topic) = header(&headers, woocommerce::TOPIC_HEADER) else { return missing("X-WC-Webhook-Topic") };
    let event_id = header(&headers, woocommerce::WEBHOOK_ID_HEADER).map(|id| format!("webhook-{id}"));
    let delivery = woocommerce::webhook::delivery_key(delivery, &body);
    let delivery = delivery.as_str();
    let raw = String::from_utf8_lossy(&body).into_owned();
    let event = match std::str::from_utf8(&body) {
        Ok(text) => service.woocommerce_event(&shop, delivery, topic, text).await,
        Err(_) => Err(Unread::attention("WooCommerce: the body is not UTF-8".to_owned())),
    };
    store(service, shop, event, (delivery.to_owned(), topic.to_owned(), event_id), raw).await
}

async fn tiktok_webhook(State(service): State<Murchases>, headers: HeaderMap, body: Bytes) -> Response {
    use providers::tiktok;
    let Some(app) = service.storefront_secrets.tiktok.clone() else {
        tracing::error!("a TikTok Shop notification arrived but TIKTOK_APP_KEY / TIKTOK_APP_SECRET are not set");
        return reject(StatusCode::SERVICE_UNAVAILABLE, "NOT_CONFIGURED", "TikTok Shop is not configured");
    };
    // TikTok answers a failed authentication with 401 and expects the same of us.
    if let Err(e) = tiktok::webhook::verify(
        &app.app_key,
        app.app_secret.expose_secret().as_bytes(),
        &body,
        header(&headers, tiktok::SIGNATURE_HEADER),
    ) {
        tracing::info!(reason = %e, "TikTok Shop notification signature rejected");
        return reject(StatusCode::UNAUTHORIZED, "INVALID_SIGNATURE", SIGNATURE_REFUSED);
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return reject(StatusCode::BAD_REQUEST, "MALFORMED", "the body is not UTF-8");
    };
    // Which shop: only the (verified) body says.
    let notification = match tiktok::transformers::notification(text) {
        Ok(n) => n,
        Err(e) => return reject(StatusCode::BAD_REQUEST, "MALFORMED", &e.0),
    };
    let shop = match service.storefront_shop(Platform::Tiktok, &notification.shop_id).await {
        Ok(Some(shop)) => shop,
        Ok(None) => {
            tracing::info!(shop = %notification.shop_id, "TikTok Shop notification from a shop that is not registered");
            return reject(StatusCode::UNAUTHORIZED, "INVALID_SIGNATURE", SIGNATURE_REFUSED);
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read storefront shops");
            return reject(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "try again");
        }
    };
    let delivery = notification.delivery_key(&body);
    let topic = notification.kind.topic();
    // Known already: a duplicate, or one kept because TikTok's API did not answer, which this
    // redelivery reads again (nothing is read for an applied one).
    match service.stored_delivery(&shop, &delivery).await {
        Ok(Some(d)) if d.status == DeliveryStatus::SourceUnavailable => {
            return match service.replay_delivery(&d.id, "tiktok-redelivery", false).await {
                Ok(d) if d.status == DeliveryStatus::SourceUnavailable => {
                    reject(StatusCode::SERVICE_UNAVAILABLE, "UPSTREAM_UNAVAILABLE", "try again")
                }
                Ok(d) => {
                    (StatusCode::OK, axum::Json(serde_json::json!({"received": true, "status": d.status.as_str()})))
                        .into_response()
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot replay a kept TikTok Shop delivery");
                    reject(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "try again")
                }
            };
        }
        Ok(Some(_)) => {
            return (StatusCode::OK, axum::Json(serde_json::json!({"received": true, "duplicate": true})))
                .into_response();
        }
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = %e, "cannot read storefront deliveries");
            return reject(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "try again");
        }
    }
    // A transient failure of TikTok's API is kept SOURCE_UNAVAILABLE and answered 503 (`store`).
    let event = service.tiktok_event(&shop, &delivery, &notification).await;
    let event_id = notification.notification_id.clone();
    store(service, shop, event, (delivery, topic, event_id), text.to_owned()).await
}
