//! PayPal end to end through HTTP, both subgraphs on one database, a fake PayPal serving
//! PayPal's own example objects: onboarding by partner referral and webhook, checkout as a
//! marketplace order whose platform fee is the engine's application fee (previewCommission =
//! PayPal request = ledger), the capture webhook recording the entry, refunds through the API
//! and by webhook converging to the same cumulative clawback.

use serde_json::{Value, json};
use test_support::paypal::{fixture, webhook};
use test_support::{TestDb, admin_token, order_service_token, owner_token};

const MERCHANT: &str = "7KNGBPH2U58GQ";

#[tokio::test]
async fn a_paypal_seller_onboards_sells_and_refunds_through_the_same_books_as_stripe() {
    for t in TestDb::all().await {
        let apps = flows::spawn(&t.conn).await;
        let owner = owner_token("m1");

        // Onboarding: a partner referral tracked by our account id, activated by PayPal's webhook.
        let create = "mutation { createConnectedAccount(input: {maletId: \"m1\", provider: PAYPAL}) { id status provider providerAccountId onboardingUrl } }";
        let res = apps.pay.run(Some(&owner), create, json!({})).await;
        let account = &res["data"]["createConnectedAccount"];
        assert_eq!(account["status"], "ONBOARDING", "{:?}: {res}", t.backend);
        assert_eq!(account["provider"], "PAYPAL");
        assert_eq!(account["providerAccountId"], Value::Null, "PayPal names the seller only when onboarding completes");
        assert!(account["onboardingUrl"].as_str().is_some_and(|u| u.contains("bizsignup")), "{res}");
        let account_id = account["id"].as_str().expect("id").to_owned();
        let referral = apps.paypal.last("/v2/customer/partner-referrals").expect("referral");
        assert_eq!(referral.body["tracking_id"], json!(account_id));
        let onboarded = webhook(
            "WH-ONBOARDED-1",
            "MERCHANT.ONBOARDING.COMPLETED",
            json!({"merchant_id": MERCHANT, "tracking_id": account_id, "partner_client_id": "PARTNER"}),
        );
        assert_eq!(apps.paypal_webhook(&apps.pay_base, &onboarded).await, 200);
        let q = "query { connectedAccount(maletId: \"m1\") { status providerAccountId } }";
        let res = apps.pay.run(Some(&owner), q, json!({})).await;
        assert_eq!(
            res["data"]["connectedAccount"],
            json!({"status": "ACTIVE", "providerAccountId": MERCHANT}),
            "{res}"
        );

        // Checkout: the platform fee PayPal is asked for is the engine's application fee.
        let preview =
            "query { previewCommission(input: {maletId: \"m1\", grossAmount: 10000}) { applicationFeeAmount } }";
        let res = apps.mur.run(Some(&owner), preview, json!({})).await;
        assert_eq!(res["data"]["previewCommission"]["applicationFeeAmount"], 2008, "{res}");
        let pay = "mutation { createMurchasePayment(input: {orderId: \"ord-pp\", maletId: \"m1\", grossAmount: 10000}) { paymentIntentId approvalUrl applicationFeeAmount } }";
        let res = apps.mur.run(Some(&owner), pay, json!({})).await;
        let created = &res["data"]["createMurchasePayment"];
        assert_eq!(created["applicationFeeAmount"], 2008, "{res}");
        let order_id = created["paymentIntentId"].as_str().expect("order id").to_owned();
        assert!(created["approvalUrl"].as_str().is_some_and(|u| u.contains(&order_id)), "{res}");
        let sent = apps.paypal.last("/v2/checkout/orders").expect("order");
        let unit = &sent.body["purchase_units"][0];
        assert_eq!(unit["payee"]["merchant_id"], MERCHANT);
        assert_eq!(unit["amount"]["value"], "100.00");
        assert_eq!(unit["payment_instruction"]["platform_fees"][0]["amount"]["value"], "20.08");

        // The buyer approves at PayPal; the storefront asks us to capture (once); PayPal reports
        // the capture.
        let capture_it = "mutation { captureMurchasePayment(maletId: \"m1\", orderId: \"ord-pp\") { paymentIntentId captureId completed } }";
        let res = apps.mur.run(Some(&owner), capture_it, json!({})).await;
        let captured = &res["data"]["captureMurchasePayment"];
        assert_eq!(
            (captured["paymentIntentId"].as_str(), captured["completed"].as_bool()),
            (Some(order_id.as_str()), Some(true)),
            "{res}"
        );
        let capture_id = captured["captureId"].as_str().expect("capture").to_owned();
        let sent = apps.paypal.last(&format!("/v2/checkout/orders/{order_id}/capture")).expect("capture sent");
        assert_eq!(sent.headers.get("paypal-request-id").map(String::as_str), Some("murchase-capture:m1:ord-pp"));
        let res = apps.mur.run(Some(&owner_token("m2")), capture_it, json!({})).await;
        assert_eq!(test_support::error_code(&res).as_deref(), Some("FORBIDDEN"), "another Malet's owner: {res}");
        let capture = apps.paypal.capture_of(&order_id).expect("captured");
        let captured = webhook("WH-CAPTURED-1", "PAYMENT.CAPTURE.COMPLETED", capture);
        assert_eq!(apps.paypal_webhook(&apps.mur_base, &captured).await, 200);
        assert_eq!(apps.paypal_webhook(&apps.pay_base, &captured).await, 200, "payments acknowledges it too");
        let ledger = "query { commissionLedger(maletId: \"m1\") { orderId grossAmount commissionAmount processingFee reserveAmount netPayout applicationFeeAmount refundedAmount refundedCommission } }";
        let res = apps.mur.run(Some(&owner), ledger, json!({})).await;
        assert_eq!(
            res["data"]["commissionLedger"][0],
            json!({"orderId": "ord-pp", "grossAmount": 10000, "commissionAmount": 800, "processingFee": 320,
                   "reserveAmount": 888, "netPayout": 7992, "applicationFeeAmount": 2008, "refundedAmount": 0,
                   "refundedCommission": 0}),
            "{:?}: {res}",
            t.backend
        );
        apps.payments.service.consume_ledger_events(100).await.expect("earning");
        let res = apps
            .pay
            .run(
                Some(&owner),
                "query { connectedAccount(maletId: \"m1\") { pendingBalance reserveBalance } }",
                json!({}),
            )
            .await;
        assert_eq!(res["data"]["connectedAccount"], json!({"pendingBalance": 7992, "reserveBalance": 888}), "{res}");

        // A refund of 40.00 through the API claws back 320; PayPal's webhook of the same
        // refund, and an older one, change nothing.
        let refund = "mutation { refundMurchase(maletId: \"m1\", orderId: \"ord-pp\", amount: 4000, reason: \"damaged\") { refundedAmount refundedCommission } }";
        let res = apps.mur.run(Some(&admin_token()), refund, json!({})).await;
        assert_eq!(res["data"]["refundMurchase"], json!({"refundedAmount": 4000, "refundedCommission": 320}), "{res}");
        let sent = apps.paypal.last(&format!("/v2/payments/captures/{capture_id}/refund")).expect("refund sent");
        assert_eq!(sent.body["amount"]["value"], "40.00");
        // PayPal's webhook names the refund the API call made.
        use sea_orm::EntityTrait;
        let made = entity::provider_refunds::Entity::find().one(&t.conn).await.expect("q").expect("refund recorded");
        assert_eq!((made.provider.as_str(), made.amount, made.source.as_str()), ("PAYPAL", 4000, "api"));
        let mut r = fixture("refund");
        r["id"] = json!(made.provider_refund_id);
        r["amount"] = json!({"currency_code": "USD", "value": "40.00"});
        r["seller_payable_breakdown"]["total_refunded_amount"] = json!({"currency_code": "USD", "value": "40.00"});
        r["links"][1]["href"] = json!(format!("https://api-m.paypal.com/v2/payments/captures/{capture_id}"));
        let refunded = webhook("WH-REFUNDED-1", "PAYMENT.CAPTURE.REFUNDED", r);
        assert_eq!(apps.paypal_webhook(&apps.mur_base, &refunded).await, 200);
        let mut older = fixture("refund");
        older["id"] = json!(made.provider_refund_id);
        older["amount"] = json!({"currency_code": "USD", "value": "40.00"});
        older["seller_payable_breakdown"]["total_refunded_amount"] = json!({"currency_code": "USD", "value": "0.00"});
        older["links"][1]["href"] = json!(format!("https://api-m.paypal.com/v2/payments/captures/{capture_id}"));
        let older = webhook("WH-REFUNDED-0", "PAYMENT.CAPTURE.REFUNDED", older);
        assert_eq!(apps.paypal_webhook(&apps.mur_base, &older).await, 200);
        let res = apps.mur.run(Some(&owner), ledger, json!({})).await;
        assert_eq!(res["data"]["commissionLedger"][0]["refundedAmount"], 4000, "{res}");
        assert_eq!(res["data"]["commissionLedger"][0]["refundedCommission"], 320, "{res}");
        apps.payments.service.consume_ledger_events(100).await.expect("clawback");

        // A dispute on the capture marks the entry and is recorded against the seller's account.
        let mut dispute = fixture("dispute");
        dispute["disputed_transactions"][0]["seller_transaction_id"] = json!(capture_id);
        let opened = webhook("WH-DISPUTE-1", "CUSTOMER.DISPUTE.CREATED", dispute);
        assert_eq!(apps.paypal_webhook(&apps.mur_base, &opened).await, 200);
        assert_eq!(apps.paypal_webhook(&apps.pay_base, &opened).await, 200);
        let entry = entity::commission_ledger::Entity::find().one(&t.conn).await.expect("q").expect("entry");
        assert!(entry.disputed, "the entry is disputed");
        let recorded = entity::disputes::Entity::find().one(&t.conn).await.expect("q").expect("dispute");
        assert_eq!(recorded.provider, entity::enums::Provider::Paypal);
        assert_eq!(recorded.status, entity::enums::DisputeStatus::Open);
        assert_eq!(recorded.account_id.as_deref(), Some(account_id.as_str()));

        // PayPal decides the dispute for the seller, but the webhook never arrives: the backfill
        // reads it from PayPal's events list into both inboxes, once.
        let mut won = fixture("dispute");
        won["disputed_transactions"][0]["seller_transaction_id"] = json!(capture_id);
        won["dispute_outcome"]["outcome_code"] = json!("RESOLVED_SELLER_FAVOUR");
        apps.paypal.add_event(&webhook("WH-DISPUTE-WON", "CUSTOMER.DISPUTE.RESOLVED", won));
        let since = chrono::Utc::now().timestamp() - 3600;
        let report =
            apps.murchases.inbox.backfill_all(&apps.murchases.service.providers, &[], since).await.expect("backfill");
        assert_eq!((report.fetched, report.stored), (1, 1), "{report:?}");
        let report =
            apps.payments.inbox.backfill_all(&apps.payments.service.providers, &[], since).await.expect("backfill");
        assert_eq!((report.fetched, report.stored), (1, 1), "{report:?}");
        let again =
            apps.murchases.inbox.backfill_all(&apps.murchases.service.providers, &[], since).await.expect("again");
        assert_eq!((again.stored, again.duplicates), (0, 1), "{again:?}");
        let entry = entity::commission_ledger::Entity::find().one(&t.conn).await.expect("q").expect("entry");
        assert!(!entry.disputed, "won: the entry settles again");
        let recorded = entity::disputes::Entity::find().one(&t.conn).await.expect("q").expect("dispute");
        assert_eq!(recorded.status, entity::enums::DisputeStatus::Won);
        assert!(payments::repo::movements::balance_mismatches(&t.conn).await.expect("check").is_empty());
        assert!(murchases::repo::ledger::totals_mismatches(&t.conn, None).await.expect("check").is_empty());
    }
}

/// A PayPal seller of `malet` onboarded as `merchant` (partner referral, then PayPal's webhook).
async fn paypal_seller(apps: &flows::Apps, malet: &str, merchant: &str) -> String {
    let create = "mutation($m: ID!) { createConnectedAccount(input: {maletId: $m, provider: PAYPAL}) { id } }";
    let res = apps.pay.run(Some(&owner_token(malet)), create, json!({"m": malet})).await;
    let account_id = res["data"]["createConnectedAccount"]["id"].as_str().expect("id").to_owned();
    let onboarded = webhook(
        &format!("WH-ONBOARDED-{malet}"),
        "MERCHANT.ONBOARDING.COMPLETED",
        json!({"merchant_id": merchant, "tracking_id": account_id, "partner_client_id": "PARTNER"}),
    );
    assert_eq!(apps.paypal_webhook(&apps.pay_base, &onboarded).await, 200);
    account_id
}

/// Issue 13, item 1 with PayPal (R-COMM-7): a cart of two PayPal sellers is one PayPal order of
/// one purchase unit per seller, each paying its seller less its platform fee; each unit's
/// capture records that seller's entry; a refund of one seller's item refunds its capture only.
#[tokio::test]
async fn a_paypal_cart_is_one_order_with_a_purchase_unit_per_seller() {
    const MB: &str = "MERCHANTB4TQ2";
    for t in TestDb::all().await {
        let apps = flows::spawn(&t.conn).await;
        paypal_seller(&apps, "ma", MERCHANT).await;
        paypal_seller(&apps, "mb", MB).await;
        let set_pro = "mutation { setMaletTier(maletId: \"mb\", tier: PRO, reason: \"plan\") { version } }";
        assert!(apps.mur.run(Some(&admin_token()), set_pro, json!({})).await["errors"].is_null());

        // The cart: 59.50 charged; ma 32.04 (fee 20.08 → 6.45), mb 27.46 (fee 4.81).
        let create = "mutation($i: CartInput!) { createOrderPayment(input: $i) { paymentIntentId approvalUrl clientSecret grossAmount parts { maletId grossAmount applicationFeeAmount netPayout } } }";
        let cart = json!({"i": {"orderId": "ord_pp_cart", "items": [
            {"maletId": "ma", "amount": 2000}, {"maletId": "mb", "amount": 3000}, {"maletId": "ma", "amount": 1500}
        ], "shipping": 100, "discount": 650}});
        let res = apps.mur.run(Some(&order_service_token()), create, cart).await;
        let made = &res["data"]["createOrderPayment"];
        assert_eq!(made["grossAmount"], 5950, "{:?}: {res}", t.backend);
        assert!(made["clientSecret"].is_null());
        let order_id = made["paymentIntentId"].as_str().expect("order id").to_owned();
        assert!(made["approvalUrl"].as_str().is_some_and(|u| u.contains(&order_id)), "{res}");
        let fee_of = |m: &str| {
            made["parts"].as_array().expect("parts").iter().find(|p| p["maletId"] == m).expect("part")
                ["applicationFeeAmount"]
                .as_i64()
                .expect("fee")
        };
        let (fee_a, fee_b) = (fee_of("ma"), fee_of("mb"));
        // ma: commission 252 + fee 109 + reserve 284; mb: 135 + 94 + 252.
        assert_eq!((fee_a, fee_b), (645, 481));

        // One PayPal order, one unit per seller: payee, amount and platform fee.
        let sent = apps.paypal.last("/v2/checkout/orders").expect("order");
        let units = sent.body["purchase_units"].as_array().expect("units").clone();
        assert_eq!(units.len(), 2, "{units:?}");
        let unit = |m: &str| units.iter().find(|u| u["reference_id"] == m).cloned().expect("unit");
        assert_eq!(unit("ma")["payee"]["merchant_id"], MERCHANT);
        assert_eq!(unit("ma")["amount"]["value"], "32.04");
        assert_eq!(unit("ma")["payment_instruction"]["platform_fees"][0]["amount"]["value"], "6.45");
        assert_eq!(unit("mb")["payee"]["merchant_id"], MB);
        assert_eq!(unit("mb")["amount"]["value"], "27.46");
        assert_eq!(unit("mb")["payment_instruction"]["platform_fees"][0]["amount"]["value"], "4.81");

        // The buyer approves; one capture call captures both units; PayPal reports each.
        let capture = "mutation { captureMurchasePayment(maletId: \"ma\", orderId: \"ord_pp_cart\") { completed } }";
        let res = apps.mur.run(Some(&order_service_token()), capture, json!({})).await;
        assert_eq!(res["data"]["captureMurchasePayment"]["completed"], true, "{res}");
        let mut captures = apps.paypal.captures_of(&order_id);
        assert_eq!(captures.len(), 2);
        // A capture paying someone who is none of the order's sellers credits nobody and waits
        // for an admin, until every seller of the order is recorded.
        let mut stray = captures[0].clone();
        stray["payee"]["merchant_id"] = json!("UNKNOWNMERCH1");
        let body = webhook("WH-CAPTURED-STRAY", "PAYMENT.CAPTURE.COMPLETED", stray);
        assert_eq!(apps.paypal_webhook(&apps.mur_base, &body).await, 200);
        let open_exceptions = || async {
            let res = apps.mur.run(Some(&admin_token()), "{ paymentExceptions { reason } }", json!({})).await;
            res["data"]["paymentExceptions"].as_array().map_or(0, Vec::len)
        };
        assert_eq!(open_exceptions().await, 1);
        captures.reverse();
        for (i, c) in captures.iter().enumerate() {
            let body = webhook(&format!("WH-CAPTURED-CART-{i}"), "PAYMENT.CAPTURE.COMPLETED", c.clone());
            assert_eq!(apps.paypal_webhook(&apps.mur_base, &body).await, 200);
            // Delivered twice: once.
            assert_eq!(apps.paypal_webhook(&apps.mur_base, &body).await, 200);
            // One seller recorded is not the whole order: the exception stays open until both are.
            assert_eq!(open_exceptions().await, usize::from(i == 0), "{:?} after capture {i}", t.backend);
        }
        let ledger = "query($m: ID!) { commissionLedger(maletId: $m) { id orderId grossAmount netPayout applicationFeeAmount funding refundedAmount } }";
        let entry = |m: &'static str| {
            let apps = &apps;
            async move {
                let res = apps.mur.run(Some(&admin_token()), ledger, json!({"m": m})).await;
                let entries = res["data"]["commissionLedger"].as_array().cloned().unwrap_or_else(|| panic!("{res}"));
                assert_eq!(entries.len(), 1, "{m}: {res}");
                entries[0].clone()
            }
        };
        let a = entry("ma").await;
        let b = entry("mb").await;
        assert_eq!(
            (a["grossAmount"].as_i64(), a["netPayout"].as_i64(), a["applicationFeeAmount"].as_i64()),
            (Some(3204), Some(2559), Some(645)),
            "{a}"
        );
        assert_eq!(
            (b["grossAmount"].as_i64(), b["netPayout"].as_i64(), b["applicationFeeAmount"].as_i64()),
            (Some(2746), Some(2265), Some(481)),
            "{b}"
        );
        assert_eq!(
            (a["funding"].as_str(), b["funding"].as_str()),
            (Some("DESTINATION_CHARGE"), Some("DESTINATION_CHARGE"))
        );
        let exceptions = apps.mur.run(Some(&admin_token()), "{ paymentExceptions { reason } }", json!({})).await;
        assert_eq!(exceptions["data"]["paymentExceptions"], json!([]), "{exceptions}");

        // Refund mb's item: mb's capture only.
        let capture_of = |m: &str| {
            captures.iter().find(|c| c["custom_id"] == m).and_then(|c| c["id"].as_str()).expect("capture").to_owned()
        };
        let refund = "mutation { refundMurchase(maletId: \"mb\", orderId: \"ord_pp_cart\", amount: 2746, reason: \"returned\") { refundedAmount status } }";
        let res = apps.mur.run(Some(&admin_token()), refund, json!({})).await;
        assert_eq!(res["data"]["refundMurchase"]["status"], "REFUNDED", "{res}");
        let cb = capture_of("mb");
        assert!(apps.paypal.last(&format!("/v2/payments/captures/{cb}/refund")).is_some(), "mb's capture refunded");
        assert!(apps.paypal.last(&format!("/v2/payments/captures/{}/refund", capture_of("ma"))).is_none());
        // PayPal's webhook of that refund names mb's capture: ma's entry is untouched.
        use sea_orm::EntityTrait;
        let made = entity::provider_refunds::Entity::find().one(&t.conn).await.expect("q").expect("refund recorded");
        let mut r = fixture("refund");
        r["id"] = json!(made.provider_refund_id);
        r["amount"] = json!({"currency_code": "USD", "value": "27.46"});
        r["seller_payable_breakdown"]["total_refunded_amount"] = json!({"currency_code": "USD", "value": "27.46"});
        r["links"][1]["href"] = json!(format!("https://api-m.paypal.com/v2/payments/captures/{cb}"));
        let refunded = webhook("WH-REFUNDED-CART", "PAYMENT.CAPTURE.REFUNDED", r);
        assert_eq!(apps.paypal_webhook(&apps.mur_base, &refunded).await, 200);
        assert_eq!(entry("ma").await["refundedAmount"], 0);
        assert_eq!(entry("mb").await["refundedAmount"], 2746);
        assert!(murchases::repo::ledger::totals_mismatches(&t.conn, None).await.expect("check").is_empty());
    }
}
