//! Order metadata that storefront plugins attach to a payment (R-HOOK-4, R-IF): parsed into a
//! typed value or rejected with the reason; never guessed.

use std::collections::BTreeMap;

use crate::money::{MoneyError, parse_minor_units};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("metadata.orderId is missing")]
    MissingOrderId,
    #[error("metadata.{field} is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// Storefront platforms a payment may come from.
pub const PLATFORMS: &[&str] = &["shopify", "woocommerce", "tiktok", "instagram", "mallnline"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentMetadata {
    pub order_id: String,
    pub malet_id: Option<String>,
    pub subtotal: Option<i64>,
    pub tax: i64,
    pub shipping: i64,
    pub discount: i64,
    pub affiliate_id: Option<String>,
    pub platform: Option<String>,
}

fn amount(map: &BTreeMap<String, String>, field: &'static str) -> Result<Option<i64>, MetadataError> {
    match map.get(field).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => parse_minor_units(v)
            .map(Some)
            .map_err(|e: MoneyError| MetadataError::Invalid { field, reason: e.to_string() }),
    }
}

fn id(map: &BTreeMap<String, String>, field: &'static str) -> Result<Option<String>, MetadataError> {
    match map.get(field).map(|v| v.trim()) {
        None | Some("") => Ok(None),
        Some(v) if v.len() > 200 || v.chars().any(char::is_control) => {
            Err(MetadataError::Invalid { field, reason: "not a valid identifier".into() })
        }
        Some(v) => Ok(Some(v.to_owned())),
    }
}

impl PaymentMetadata {
    pub fn parse(map: &BTreeMap<String, String>) -> Result<Self, MetadataError> {
        let order_id = id(map, "orderId")?.ok_or(MetadataError::MissingOrderId)?;
        let platform = match map.get("platform").map(|p| p.trim().to_ascii_lowercase()) {
            None => None,
            Some(p) if p.is_empty() => None,
            Some(p) if PLATFORMS.contains(&p.as_str()) => Some(p),
            Some(p) => {
                return Err(MetadataError::Invalid { field: "platform", reason: format!("unknown platform {p:?}") });
            }
        };
        Ok(PaymentMetadata {
            order_id,
            malet_id: id(map, "maletId")?,
            subtotal: amount(map, "subtotal")?,
            tax: amount(map, "tax")?.unwrap_or(0),
            shipping: amount(map, "shipping")?.unwrap_or(0),
            discount: amount(map, "discount")?.unwrap_or(0),
            affiliate_id: id(map, "affiliateId")?,
            platform,
        })
    }

    /// The metadata map a storefront or our own checkout writes.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert("orderId".into(), self.order_id.clone());
        if let Some(v) = &self.malet_id {
            m.insert("maletId".into(), v.clone());
        }
        if let Some(v) = self.subtotal {
            m.insert("subtotal".into(), v.to_string());
        }
        m.insert("tax".into(), self.tax.to_string());
        m.insert("shipping".into(), self.shipping.to_string());
        m.insert("discount".into(), self.discount.to_string());
        if let Some(v) = &self.affiliate_id {
            m.insert("affiliateId".into(), v.clone());
        }
        if let Some(v) = &self.platform {
            m.insert("platform".into(), v.clone());
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn parses_and_rejects() {
        let m = PaymentMetadata::parse(&map(&[("orderId", "o1"), ("subtotal", "10000"), ("platform", "Shopify")]))
            .expect("valid");
        assert_eq!((m.order_id.as_str(), m.subtotal, m.platform.as_deref()), ("o1", Some(10000), Some("shopify")));
        assert_eq!(PaymentMetadata::parse(&map(&[])), Err(MetadataError::MissingOrderId));
        assert!(PaymentMetadata::parse(&map(&[("orderId", "o1"), ("tax", "-1")])).is_err());
        assert!(PaymentMetadata::parse(&map(&[("orderId", "o1"), ("tax", "1.5")])).is_err());
        assert!(PaymentMetadata::parse(&map(&[("orderId", "o1"), ("platform", "ebay")])).is_err());
        let round = PaymentMetadata::parse(&m.to_map()).expect("round trip");
        assert_eq!(round, m);
    }
}
