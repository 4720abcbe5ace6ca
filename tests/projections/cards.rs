//! 客户信息卡: a customer's card names their first cases and counts them
//! all, however many are registered for one number.

use aftersales_domain::model::*;
use aftersales_projections::resources::{self, Kind, ResourceView, CARD_CASES};
use aftersales_tests::desk::*;
use aftersales_tests::{on_both_backends, TestDb};

use crate::{assert_consistent, open};

on_both_backends!(a_card_names_the_first_cases_and_counts_them_all);

async fn a_card_names_the_first_cases_and_counts_them_all(db: TestDb) {
    let (store, read) = open(&db).await;
    let desk = Desk::new(store.clone());
    let mut registered = Vec::new();
    for _ in 0..CARD_CASES + 5 {
        let case = desk
            .register(
                Priority::P3,
                Category::Logistics,
                PlatformState::SellerShipped,
            )
            .await;
        registered.push(case);
    }
    assert_consistent(&store, &read).await;

    let tags = vec![("phone", "13912345678".to_owned())];
    let (found, _) = resources::list(&read, Kind::Customer, tags, None, 10)
        .await
        .unwrap();
    let [ResourceView::Customer(card)] = found.as_slice() else {
        panic!("one customer card: {found:?}");
    };
    assert_eq!(card.case_count, registered.len() as u64);
    assert_eq!(
        card.cases,
        registered[..CARD_CASES],
        "the first ones, oldest first"
    );
    assert_eq!(card.common.id, registered[0]);
    assert_eq!(card.common.revision, registered.len() as u64 - 1);
    assert_eq!(card.buyer_ids, ["tb_lina88"]);
}
