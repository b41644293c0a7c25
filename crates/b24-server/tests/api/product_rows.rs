//! Product rows (`crm.item.productrow.*`, legacy `crm.deal/lead/quote.productrows.*`) and the
//! catalogue (`crm.product.*`): derived prices, the owner's amount following its rows in the
//! same call, rights on the owner, rows deleted with their owner, every error envelope, paging.

use crate::helpers::{envelope, spawn_app};
use serde_json::{json, Value};

const LEAD: i64 = 1;
const DEAL: i64 = 2;
const CONTACT: i64 = 3;

fn d7(code: &str, text: &str) -> (u16, Value) {
    (400, envelope(code, text))
}

fn legacy(text: &str) -> (u16, Value) {
    (400, envelope("", text))
}

async fn opportunity(app: &crate::helpers::TestApp, deal: i64) -> Value {
    app.ok("crm.item.get", json!({"entityTypeId": DEAL, "id": deal}))
        .await["item"]["opportunity"]
        .clone()
}

#[tokio::test]
async fn a_product_row_derives_its_prices_from_price_discount_and_tax() {
    let app = spawn_app().await;
    let deal = app.new_item(DEAL, None).await;
    let added = app
        .ok(
            "crm.item.productrow.add",
            json!({"fields": {"ownerId": deal, "ownerType": "D", "productName": "iphone 14",
                "price": 80000, "quantity": 2, "discountTypeId": 2, "discountRate": 20,
                "taxRate": 20, "taxIncluded": "Y", "measureCode": 796, "sort": 10}}),
        )
        .await;
    let id = added["productRow"]["id"].as_i64().expect("id");
    // The documented example: every derived price from the one before it, in cents.
    let expected = json!({"productRow": {
        "id": id, "ownerId": deal, "ownerType": "D", "productId": 0, "productName": "iphone 14",
        "price": 80000, "priceAccount": 80000, "priceExclusive": 66666.67, "priceNetto": 83333.34,
        "priceBrutto": 100000.01, "quantity": 2, "discountTypeId": 2, "discountRate": 20,
        "discountSum": 16666.67, "taxRate": 20, "taxIncluded": "Y", "customized": "Y",
        "measureCode": 796, "measureName": "pcs", "sort": 10, "xmlId": "", "type": 1,
    }});
    assert_eq!(added, expected);
    assert_eq!(
        app.ok("crm.item.productrow.get", json!({"id": id})).await,
        expected
    );

    // An absolute discount gives the rate; no tax leaves the prices equal but for the discount.
    let updated = app
        .ok(
            "crm.item.productrow.update",
            json!({"id": id, "fields": {"price": 900, "discountTypeId": 1, "discountSum": 100,
                "taxRate": null}}),
        )
        .await;
    let row = &updated["productRow"];
    assert_eq!(
        (
            &row["priceExclusive"],
            &row["priceNetto"],
            &row["priceBrutto"],
            &row["discountRate"],
            &row["discountSum"],
            &row["taxRate"]
        ),
        (
            &json!(900),
            &json!(1000),
            &json!(1000),
            &json!(10),
            &json!(100),
            &Value::Null
        )
    );
    // A row with neither a name nor a product is named after its id.
    let unnamed = app
        .ok(
            "crm.item.productrow.add",
            json!({"fields": {"ownerId": deal, "ownerType": "D", "price": 1}}),
        )
        .await;
    let unnamed_id = unnamed["productRow"]["id"].as_i64().unwrap();
    assert_eq!(
        unnamed["productRow"]["productName"],
        json!(format!("[{unnamed_id}]"))
    );
    assert_eq!(unnamed["productRow"]["quantity"], json!(1));
    assert_eq!(unnamed["productRow"]["taxIncluded"], json!("N"));
}

#[tokio::test]
async fn the_deals_amount_follows_its_rows_while_it_is_not_manual() {
    let app = spawn_app().await;
    let deal = app.new_item(DEAL, None).await;
    let row = |price: f64, quantity: f64| json!({"productName": "x", "price": price, "quantity": quantity});
    let set = app
        .ok(
            "crm.item.productrow.set",
            json!({"ownerType": "D", "ownerId": deal, "productRows": [row(100.5, 2.0), row(10.0, 3.0)]}),
        )
        .await;
    assert_eq!(set["productRows"].as_array().map(Vec::len), Some(2));
    assert_eq!(opportunity(&app, deal).await, json!(231));

    let first = set["productRows"][0]["id"].as_i64().unwrap();
    app.ok(
        "crm.item.productrow.update",
        json!({"id": first, "fields": {"quantity": 1}}),
    )
    .await;
    assert_eq!(opportunity(&app, deal).await, json!(130.5));
    let legacy_deal = app.ok("crm.deal.get", json!({"id": deal})).await;
    assert_eq!(legacy_deal["OPPORTUNITY"], json!("130.50"));

    // An amount written by hand does not stick while the rows decide it.
    app.ok(
        "crm.item.update",
        json!({"entityTypeId": DEAL, "id": deal, "fields": {"opportunity": 5}}),
    )
    .await;
    assert_eq!(opportunity(&app, deal).await, json!(130.5));

    app.ok("crm.item.productrow.delete", json!({"id": first}))
        .await;
    assert_eq!(opportunity(&app, deal).await, json!(30));

    // A manual amount stays whatever the rows do.
    app.ok(
        "crm.item.update",
        json!({"entityTypeId": DEAL, "id": deal,
               "fields": {"isManualOpportunity": "Y", "opportunity": 7}}),
    )
    .await;
    app.ok(
        "crm.item.productrow.add",
        json!({"fields": {"ownerType": "D", "ownerId": deal, "price": 1000}}),
    )
    .await;
    assert_eq!(opportunity(&app, deal).await, json!(7));

    // Back to automatic: the rows decide again.
    app.ok(
        "crm.item.update",
        json!({"entityTypeId": DEAL, "id": deal, "fields": {"isManualOpportunity": "N"}}),
    )
    .await;
    assert_eq!(opportunity(&app, deal).await, json!(1030));

    // The last row gone: the amount is 0.
    app.ok("crm.deal.productrows.set", json!({"id": deal, "rows": []}))
        .await;
    assert_eq!(opportunity(&app, deal).await, json!(0));
}

#[tokio::test]
async fn legacy_productrows_share_the_rows_of_crm_item_productrow() {
    let app = spawn_app().await;
    let deal = app.new_item(DEAL, None).await;
    assert_eq!(
        app.ok(
            "crm.deal.productrows.set",
            json!({"id": deal, "rows": [
                {"PRODUCT_NAME": "Product #2", "PRICE": 899.1, "DISCOUNT_TYPE_ID": 2,
                 "DISCOUNT_RATE": 10, "SORT": 10, "TAX_INCLUDED": "Y", "MEASURE_CODE": 796},
                {"PRODUCT_NAME": "Product #1", "PRICE": 100, "SORT": 20},
            ]}),
        )
        .await,
        json!(true)
    );
    let rows = app
        .ok("crm.deal.productrows.get", json!({"id": deal}))
        .await;
    let id = rows[0]["ID"].as_str().unwrap().to_string();
    assert_eq!(
        rows[0],
        json!({
            "ID": id, "OWNER_ID": deal.to_string(), "OWNER_TYPE": "D", "PRODUCT_ID": 0,
            "PRODUCT_NAME": "Product #2", "ORIGINAL_PRODUCT_NAME": "Product #2",
            "PRODUCT_DESCRIPTION": null, "PRICE": 899.1, "PRICE_ACCOUNT": "899.10",
            "PRICE_EXCLUSIVE": 899.1, "PRICE_NETTO": 999, "PRICE_BRUTTO": 999, "QUANTITY": 1,
            "DISCOUNT_TYPE_ID": 2, "DISCOUNT_RATE": 10, "DISCOUNT_SUM": 99.9, "TAX_RATE": null,
            "TAX_INCLUDED": "Y", "CUSTOMIZED": "Y", "MEASURE_CODE": 796, "MEASURE_NAME": "pcs",
            "SORT": 10, "XML_ID": "", "TYPE": 1,
        })
    );
    assert_eq!(rows[1]["PRODUCT_NAME"], json!("Product #1"));
    let listed = app
        .ok(
            "crm.item.productrow.list",
            json!({"filter": {"=ownerType": "D", "=ownerId": deal}}),
        )
        .await;
    let names: Vec<&str> = listed["productRows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["productName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Product #2", "Product #1"]);
    assert_eq!(opportunity(&app, deal).await, json!(999.1));

    // Leads and quotes have their own pair.
    let lead = app.new_item(LEAD, None).await;
    app.ok(
        "crm.lead.productrows.set",
        json!({"id": lead, "rows": [{"PRODUCT_NAME": "a", "PRICE": 5, "QUANTITY": 2}]}),
    )
    .await;
    let lead_rows = app
        .ok("crm.lead.productrows.get", json!({"id": lead}))
        .await;
    assert_eq!(lead_rows[0]["OWNER_TYPE"], json!("L"));
    let lead_item = app
        .ok("crm.item.get", json!({"entityTypeId": LEAD, "id": lead}))
        .await;
    assert_eq!(lead_item["item"]["opportunity"], json!(10));
    let quote = app.new_item(7, None).await;
    app.ok(
        "crm.quote.productrows.set",
        json!({"id": quote, "rows": [{"PRODUCT_NAME": "q", "PRICE": 3}]}),
    )
    .await;
    assert_eq!(
        app.ok("crm.quote.productrows.get", json!({"id": quote}))
            .await[0]["OWNER_TYPE"],
        json!("Q")
    );
}

#[tokio::test]
async fn product_rows_go_with_their_deleted_owner() {
    let app = spawn_app().await;
    let (gone, kept) = (
        app.new_item(DEAL, None).await,
        app.new_item(DEAL, None).await,
    );
    for deal in [gone, kept] {
        app.ok(
            "crm.deal.productrows.set",
            json!({"id": deal, "rows": [{"PRODUCT_NAME": "a", "PRICE": 1}]}),
        )
        .await;
    }
    let row = app
        .ok(
            "crm.item.productrow.list",
            json!({"filter": {"=ownerType": "D", "=ownerId": gone}}),
        )
        .await["productRows"][0]["id"]
        .clone();
    app.ok("crm.deal.delete", json!({"id": gone})).await;
    assert_eq!(
        app.call("crm.item.productrow.get", json!({"id": row}))
            .await,
        d7("NOT_FOUND", "Item not found")
    );
    let listed = app
        .call(
            "crm.item.productrow.list",
            json!({"filter": {"=ownerType": "D", "=ownerId": kept}}),
        )
        .await;
    assert_eq!(listed.1["total"], json!(1), "{listed:?}");
}

#[tokio::test]
async fn product_row_errors_have_their_codes_and_change_nothing() {
    let app = spawn_app().await;
    let deal = app.new_item(DEAL, None).await;
    let row = app
        .ok(
            "crm.item.productrow.add",
            json!({"fields": {"ownerType": "D", "ownerId": deal, "productName": "a", "price": 5}}),
        )
        .await["productRow"]["id"]
        .as_i64()
        .unwrap();
    let cases = [
        (
            "crm.item.productrow.add",
            json!({}),
            d7("100", "Could not find value for parameter {fields}"),
        ),
        (
            "crm.item.productrow.add",
            json!({"fields": {"ownerType": "ZZ", "ownerId": deal}}),
            d7("ENTITY_TYPE_NOT_SUPPORTED", "Entity type is not supported"),
        ),
        (
            "crm.item.productrow.add",
            json!({"fields": {"ownerType": "D", "ownerId": 999_999}}),
            d7("OWNER_NOT_FOUND", "Owner was not found"),
        ),
        (
            "crm.item.productrow.add",
            json!({"fields": {"ownerType": "D", "ownerId": deal, "price": "abc"}}),
            d7(
                "CRM_FIELD_ERROR_VALUE_NOT_VALID",
                "The value of the field \"price\" is not valid",
            ),
        ),
        (
            "crm.item.productrow.get",
            json!({}),
            d7("100", "Could not find value for parameter {id}"),
        ),
        (
            "crm.item.productrow.get",
            json!({"id": 999_999}),
            d7("NOT_FOUND", "Item not found"),
        ),
        (
            "crm.item.productrow.update",
            json!({"id": 999_999, "fields": {"price": 1}}),
            d7("NOT_FOUND", "Item not found"),
        ),
        (
            "crm.item.productrow.update",
            json!({"id": row, "fields": {"discountTypeId": 7}}),
            d7(
                "CRM_FIELD_ERROR_VALUE_NOT_VALID",
                "The value of the field \"discountTypeId\" is not valid",
            ),
        ),
        (
            "crm.item.productrow.delete",
            json!({"id": 999_999}),
            d7("NOT_FOUND", "Item not found"),
        ),
        (
            "crm.item.productrow.set",
            json!({"ownerType": "D", "ownerId": deal}),
            d7("100", "Could not find value for parameter {productRows}"),
        ),
        (
            "crm.item.productrow.set",
            json!({"ownerType": "D", "ownerId": 999_999, "productRows": []}),
            d7("OWNER_NOT_FOUND", "Owner was not found"),
        ),
        (
            "crm.item.productrow.set",
            json!({"ownerType": "T99", "ownerId": deal, "productRows": []}),
            d7("ENTITY_TYPE_NOT_SUPPORTED", "Entity type is not supported"),
        ),
        (
            "crm.item.productrow.list",
            json!({"filter": {"=ownerType": "D"}}),
            d7(
                "INVALID_ARG_VALUE",
                "The filter must contain the fields =ownerType and =ownerId",
            ),
        ),
        (
            "crm.item.productrow.list",
            json!({"filter": {"=ownerType": "D", "=ownerId": deal, "nope": 1}}),
            d7(
                "INVALID_ARG_VALUE",
                "Invalid filter: field 'nope' is not allowed in filter",
            ),
        ),
        (
            "crm.deal.productrows.get",
            json!({}),
            legacy("The parameter id is invalid or not defined."),
        ),
        (
            "crm.deal.productrows.get",
            json!({"id": 999_999}),
            legacy("Not found"),
        ),
        (
            "crm.deal.productrows.set",
            json!({"id": deal, "rows": "x"}),
            legacy("Parameter 'rows' must be array."),
        ),
        (
            "crm.deal.productrows.set",
            json!({"id": deal, "rows": [{"PRICE": 1, "DISCOUNT_TYPE_ID": 2}]}),
            d7(
                "ERROR_CORE",
                "Discount Rate (DISCOUNT_RATE) is required if Percentage Discount Type (DISCOUNT_TYPE_ID) is defined<br>",
            ),
        ),
        (
            "crm.deal.productrows.set",
            json!({"id": deal, "rows": [{"PRICE": 1, "DISCOUNT_TYPE_ID": 2, "DISCOUNT_RATE": 100}]}),
            d7(
                "ERROR_CORE",
                "Discount Sum (DISCOUNT_SUM) is required if Percentage Discount Type (DISCOUNT_TYPE_ID) is defined and Discount Rate (DISCOUNT_RATE) is 100%<br>",
            ),
        ),
        (
            "crm.deal.productrows.set",
            json!({"id": deal, "rows": [{"PRICE": 1, "DISCOUNT_TYPE_ID": 1}]}),
            d7(
                "ERROR_CORE",
                "Discount Sum (DISCOUNT_SUM) is required if Monetary Discount Type (DISCOUNT_TYPE_ID) is defined<br>",
            ),
        ),
    ];
    for (method, params, expected) in cases {
        assert_eq!(
            app.call(method, params.clone()).await,
            expected,
            "{method} {params}"
        );
    }
    // Nothing changed: the one row and the amount it gives.
    let rows = app
        .ok("crm.deal.productrows.get", json!({"id": deal}))
        .await;
    assert_eq!(rows.as_array().map(Vec::len), Some(1));
    assert_eq!(opportunity(&app, deal).await, json!(5));
}

#[tokio::test]
async fn product_rows_follow_the_rights_on_their_owner() {
    let app = spawn_app().await;
    let deal = app.new_item(DEAL, None).await;
    let row = app
        .ok(
            "crm.item.productrow.add",
            json!({"fields": {"ownerType": "D", "ownerId": deal, "productName": "a"}}),
        )
        .await["productRow"]["id"]
        .as_i64()
        .unwrap();
    let reader = app.create_user(&["deal.read=all"]);
    let reader = app.create_webhook(reader, Some("crm"));
    let stranger = app.create_user(&[]);
    let stranger = app.create_webhook(stranger, Some("crm"));
    let denied = d7("ACCESS_DENIED", "Access denied.");

    // Reading needs the read right on the deal; writing its update right.
    assert_eq!(
        app.call_as(&reader, "crm.item.productrow.get", json!({"id": row}))
            .await
            .0,
        200
    );
    assert_eq!(
        app.call_as(&reader, "crm.deal.productrows.get", json!({"id": deal}))
            .await
            .0,
        200
    );
    for (method, params) in [
        (
            "crm.item.productrow.add",
            json!({"fields": {"ownerType": "D", "ownerId": deal}}),
        ),
        (
            "crm.item.productrow.update",
            json!({"id": row, "fields": {"price": 9}}),
        ),
        ("crm.item.productrow.delete", json!({"id": row})),
        (
            "crm.item.productrow.set",
            json!({"ownerType": "D", "ownerId": deal, "productRows": []}),
        ),
    ] {
        assert_eq!(
            app.call_as(&reader, method, params.clone()).await,
            denied,
            "{method}"
        );
    }
    assert_eq!(
        app.call_as(
            &reader,
            "crm.deal.productrows.set",
            json!({"id": deal, "rows": []})
        )
        .await,
        legacy("Access denied.")
    );
    for (method, params) in [
        ("crm.item.productrow.get", json!({"id": row})),
        (
            "crm.item.productrow.list",
            json!({"filter": {"=ownerType": "D", "=ownerId": deal}}),
        ),
    ] {
        assert_eq!(
            app.call_as(&stranger, method, params.clone()).await,
            denied,
            "{method}"
        );
    }
    assert_eq!(
        app.call_as(&stranger, "crm.deal.productrows.get", json!({"id": deal}))
            .await,
        legacy("Access denied.")
    );
    // Without the crm scope, nothing.
    let user_only = app.create_webhook(1, Some("user"));
    let (status, body) = app
        .call_as(&user_only, "crm.item.productrow.get", json!({"id": row}))
        .await;
    assert_eq!(
        (status, body["error"].clone()),
        (401, json!("insufficient_scope"))
    );
    // The row is as it was.
    assert_eq!(
        app.ok("crm.item.productrow.get", json!({"id": row})).await["productRow"]["price"],
        json!(0)
    );
}

#[tokio::test]
async fn product_row_lists_are_paged_by_fifty_in_sort_order() {
    let app = spawn_app().await;
    let contact = app.new_item(CONTACT, None).await;
    let rows: Vec<Value> = (0..51)
        .map(|i| json!({"productName": format!("p{i}"), "sort": 100 - i, "price": i}))
        .collect();
    app.ok(
        "crm.item.productrow.set",
        json!({"ownerType": "C", "ownerId": contact, "productRows": rows}),
    )
    .await;
    let filter = json!({"=ownerType": "C", "=ownerId": contact});
    let (status, first) = app
        .call("crm.item.productrow.list", json!({"filter": filter}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (first["total"].clone(), first["next"].clone()),
        (json!(51), json!(50))
    );
    assert_eq!(
        first["result"]["productRows"][0]["productName"],
        json!("p50")
    );
    let (_, second) = app
        .call(
            "crm.item.productrow.list",
            json!({"filter": filter, "start": 50}),
        )
        .await;
    assert_eq!(
        second["result"]["productRows"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        second["result"]["productRows"][0]["productName"],
        json!("p0")
    );
    assert!(second.get("next").is_none());
    // Filters and order on the row's fields.
    let (_, cheap) = app
        .call(
            "crm.item.productrow.list",
            json!({"filter": {"=ownerType": "C", "=ownerId": contact, "<price": 3},
                   "order": {"price": "desc"}}),
        )
        .await;
    let names: Vec<&str> = cheap["result"]["productRows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["productName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["p2", "p1", "p0"]);
    // A contact has no amount: nothing to follow, nothing broken.
    let fields = app.ok("crm.item.productrow.fields", json!({})).await;
    assert_eq!(
        fields["fields"]["ownerType"],
        json!({"type": "string", "isRequired": true, "isReadOnly": false, "isImmutable": true,
               "isMultiple": false, "isDynamic": false, "title": "Owner Type"})
    );
}

#[tokio::test]
async fn catalogue_products_are_kept_by_administrators_and_named_by_rows() {
    let app = spawn_app().await;
    let id = app
        .ok(
            "crm.product.add",
            json!({"fields": {"NAME": "Plastic Chair", "CURRENCY_ID": "USD", "PRICE": 4900,
                              "SORT": 500, "MEASURE": 796}}),
        )
        .await
        .as_i64()
        .expect("id");
    let product = app.ok("crm.product.get", json!({"id": id})).await;
    assert_eq!(
        (
            &product["ID"],
            &product["NAME"],
            &product["PRICE"],
            &product["SORT"],
            &product["ACTIVE"],
            &product["MEASURE"],
            &product["XML_ID"],
            &product["CATALOG_ID"]
        ),
        (
            &json!(id.to_string()),
            &json!("Plastic Chair"),
            &json!("4900.00"),
            &json!("500"),
            &json!("Y"),
            &json!("796"),
            &json!(id.to_string()),
            &json!("1")
        )
    );
    assert_eq!(
        app.ok(
            "crm.product.update",
            json!({"id": id, "fields": {"PRICE": 5000}})
        )
        .await,
        json!(true)
    );
    let (status, listed) = app
        .call(
            "crm.product.list",
            json!({"filter": {">=PRICE": 5000}, "select": ["NAME"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        listed["result"],
        json!([{"ID": id.to_string(), "NAME": "Plastic Chair"}])
    );
    assert_eq!(listed["total"], json!(1));

    // A row naming the product takes its name and unit.
    let deal = app.new_item(DEAL, None).await;
    let row = app
        .ok(
            "crm.item.productrow.add",
            json!({"fields": {"ownerType": "D", "ownerId": deal, "productId": id, "price": 5000}}),
        )
        .await;
    assert_eq!(
        (
            &row["productRow"]["productName"],
            &row["productRow"]["measureCode"],
            &row["productRow"]["measureName"]
        ),
        (&json!("Plastic Chair"), &json!(796), &json!("pcs"))
    );

    // Others may read the catalogue but not change it.
    let user = app.create_user(&["deal.read=all"]);
    let hook = app.create_webhook(user, Some("crm"));
    assert_eq!(
        app.call_as(&hook, "crm.product.get", json!({"id": id}))
            .await
            .0,
        200
    );
    for (method, params) in [
        ("crm.product.add", json!({"fields": {"NAME": "x"}})),
        (
            "crm.product.update",
            json!({"id": id, "fields": {"NAME": "x"}}),
        ),
        ("crm.product.delete", json!({"id": id})),
    ] {
        assert_eq!(
            app.call_as(&hook, method, params).await,
            legacy("Access denied."),
            "{method}"
        );
    }
    let errors = [
        (
            "crm.product.add",
            json!({"fields": {"PRICE": 1}}),
            legacy("The field \"Name\" is required."),
        ),
        (
            "crm.product.get",
            json!({}),
            legacy("ID is not defined or invalid."),
        ),
        (
            "crm.product.get",
            json!({"id": 999_999}),
            legacy("Not found"),
        ),
        (
            "crm.product.update",
            json!({"id": id, "fields": {"PRICE": "cheap"}}),
            legacy("The value of the field \"PRICE\" is not valid."),
        ),
        (
            "crm.product.delete",
            json!({"id": 999_999}),
            legacy("Not found"),
        ),
    ];
    for (method, params, expected) in errors {
        assert_eq!(
            app.call(method, params.clone()).await,
            expected,
            "{method} {params}"
        );
    }

    // Deleting the product leaves the row with its own copy.
    assert_eq!(
        app.ok("crm.product.delete", json!({"id": id})).await,
        json!(true)
    );
    assert_eq!(
        app.call("crm.product.get", json!({"id": id})).await,
        legacy("Not found")
    );
    let rows = app
        .ok("crm.deal.productrows.get", json!({"id": deal}))
        .await;
    assert_eq!(rows[0]["PRODUCT_NAME"], json!("Plastic Chair"));
    let fields = app.ok("crm.product.fields", json!({})).await;
    assert_eq!(fields["NAME"]["isRequired"], json!(true));
    assert_eq!(fields["ID"]["isReadOnly"], json!(true));
}

#[tokio::test]
async fn methods_lists_the_product_and_requisite_families_under_crm() {
    let app = spawn_app().await;
    let crm = app.ok("methods", json!({"scope": "crm"})).await;
    let names: Vec<&str> = crm
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for name in [
        "crm.item.productrow.add",
        "crm.item.productrow.get",
        "crm.item.productrow.list",
        "crm.item.productrow.update",
        "crm.item.productrow.delete",
        "crm.item.productrow.set",
        "crm.item.productrow.fields",
        "crm.deal.productrows.get",
        "crm.deal.productrows.set",
        "crm.lead.productrows.get",
        "crm.lead.productrows.set",
        "crm.quote.productrows.get",
        "crm.quote.productrows.set",
        "crm.product.add",
        "crm.product.get",
        "crm.product.list",
        "crm.product.update",
        "crm.product.delete",
        "crm.product.fields",
        "crm.requisite.add",
        "crm.requisite.get",
        "crm.requisite.list",
        "crm.requisite.update",
        "crm.requisite.delete",
        "crm.requisite.fields",
        "crm.requisite.preset.list",
        "crm.requisite.bankdetail.add",
        "crm.requisite.bankdetail.get",
        "crm.requisite.bankdetail.list",
        "crm.requisite.bankdetail.update",
        "crm.requisite.bankdetail.delete",
        "crm.requisite.bankdetail.fields",
        "crm.address.add",
        "crm.address.update",
        "crm.address.delete",
        "crm.address.list",
        "crm.address.fields",
    ] {
        assert!(names.contains(&name), "{name} is not listed");
    }
}

#[tokio::test]
async fn concurrent_row_changes_of_one_deal_leave_its_amount_equal_to_its_rows() {
    let app = spawn_app().await;
    let deal = app.new_item(DEAL, None).await;
    let tasks: Vec<_> = (1..=12)
        .map(|price| {
            let client = reqwest::Client::new();
            let url = format!("{}crm.item.productrow.add", app.admin_url);
            tokio::spawn(async move {
                let response = client
                    .post(url)
                    .json(&json!({"fields": {"ownerType": "D", "ownerId": deal,
                                             "productName": "x", "price": price}}))
                    .send()
                    .await
                    .unwrap();
                response.status().as_u16()
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    // 1 + 2 + … + 12: every add's amount counted, none lost to a concurrent one.
    assert_eq!(opportunity(&app, deal).await, json!(78));
}
