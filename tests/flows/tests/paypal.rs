//! PayPal end to end through HTTP, both subgraphs on one database, a fake PayPal serving
//! PayPal's own example objects: onboarding by partner referral and webhook, checkout as a
//! marketplace order whose platform fee is the engine's application fee (previewCommission =
//! PayPal request = ledger), the capture webhook recording the entry, refunds through the API
//! and by webhook converging to the same cumulative clawback.

use serde_json::{Value, json};
use test_support::paypal::{fixture, webhook};
use test_support::{TestDb, admin_token, owner_token};

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
