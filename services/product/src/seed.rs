//! The demo catalog seeded into an empty database on first start.
//!
//! Images are paths on the gateway, which draws them itself: the demo works
//! with no network at all.

use shop_runtime::server::validate::FieldError;

use crate::domain::{Currency, NewProduct, Sku};

/// (category, sku, name, description, price in cents, stock)
const DEMO: &[(&str, &str, &str, &str, i64, i64)] = &[
    (
        "kitchen",
        "KIT-MUG-01",
        "Stoneware Mug",
        "A 350 ml stoneware mug with a speckled glaze.",
        1400,
        120,
    ),
    (
        "kitchen",
        "KIT-PRS-02",
        "French Press",
        "Borosilicate glass and steel, brews four cups.",
        3200,
        60,
    ),
    (
        "kitchen",
        "KIT-KNF-03",
        "Chef's Knife",
        "20 cm carbon steel blade with an oak handle.",
        8900,
        25,
    ),
    (
        "kitchen",
        "KIT-BRD-04",
        "Walnut Cutting Board",
        "End-grain walnut, oiled by hand.",
        5400,
        40,
    ),
    (
        "kitchen",
        "KIT-KTL-05",
        "Pour-over Kettle",
        "Gooseneck kettle for slow, even pouring.",
        4600,
        35,
    ),
    (
        "kitchen",
        "KIT-TWL-06",
        "Linen Tea Towels",
        "Set of two stonewashed linen towels.",
        1800,
        90,
    ),
    (
        "books",
        "BK-RUST-01",
        "Programming in Rust",
        "Ownership, traits and async from first principles.",
        4500,
        50,
    ),
    (
        "books",
        "BK-DDIA-02",
        "Designing Data Systems",
        "Replication, partitioning and the trade-offs between them.",
        5200,
        45,
    ),
    (
        "books",
        "BK-COOK-03",
        "The Bread Book",
        "Sourdough, flatbreads and the science of rising.",
        2900,
        70,
    ),
    (
        "books",
        "BK-HIKE-04",
        "Trails of the North",
        "Forty walks with maps and elevation profiles.",
        2400,
        55,
    ),
    (
        "books",
        "BK-POEM-05",
        "Collected Short Poems",
        "A pocket anthology for long commutes.",
        1600,
        80,
    ),
    (
        "books",
        "BK-SCIF-06",
        "The Quiet Orbit",
        "A novel about the last crew of a long-haul station.",
        1900,
        65,
    ),
    (
        "games",
        "GM-CHESS-01",
        "Wooden Chess Set",
        "Weighted pieces and a folding board.",
        6400,
        30,
    ),
    (
        "games",
        "GM-PUZ-02",
        "1000-Piece Puzzle",
        "A harbour at dusk, printed on thick card.",
        2200,
        75,
    ),
    (
        "games",
        "GM-DICE-03",
        "Polyhedral Dice",
        "Seven resin dice in a cloth bag.",
        1200,
        150,
    ),
    (
        "games",
        "GM-CARD-04",
        "Card Game Night",
        "A fast party game for three to eight players.",
        2500,
        85,
    ),
    (
        "games",
        "GM-GO-05",
        "Go Board",
        "19x19 board with slate and shell stones.",
        7800,
        15,
    ),
    (
        "games",
        "GM-CUBE-06",
        "Speed Cube",
        "Smooth 3x3 cube with magnets.",
        1500,
        110,
    ),
    (
        "garden",
        "GD-POT-01",
        "Terracotta Pot",
        "Handmade 20 cm pot with a drainage hole.",
        1700,
        100,
    ),
    (
        "garden",
        "GD-SHR-02",
        "Pruning Shears",
        "Bypass shears with a locking catch.",
        3400,
        45,
    ),
    (
        "garden",
        "GD-SEED-03",
        "Herb Seed Kit",
        "Basil, thyme, parsley and chives.",
        1300,
        130,
    ),
    (
        "garden",
        "GD-CAN-04",
        "Watering Can",
        "Galvanised steel, five litres.",
        3900,
        40,
    ),
    (
        "garden",
        "GD-GLV-05",
        "Gardening Gloves",
        "Waxed canvas with leather palms.",
        2100,
        95,
    ),
    (
        "garden",
        "GD-LMP-06",
        "Solar Lantern",
        "Warm light for six hours on a day's sun.",
        2700,
        60,
    ),
];

/// The demo products, ready to insert.
pub fn demo_catalog() -> Result<Vec<NewProduct>, FieldError> {
    DEMO.iter()
        .map(|&(category, sku, name, description, price, stock)| {
            Ok(NewProduct {
                sku: Sku::parse(sku)?,
                name: name.to_string(),
                description: description.to_string(),
                category: category.to_string(),
                image_url: format!("/images/products/{}.svg", sku.to_ascii_lowercase()),
                unit_price_minor: price,
                currency: Currency::parse("USD")?,
                initial_stock: stock,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_catalog_is_valid() {
        let products = super::demo_catalog().unwrap();
        assert!(!products.is_empty());
        for p in &products {
            assert_eq!(
                crate::domain::image_url(&p.image_url).as_ref(),
                Ok(&p.image_url)
            );
        }
    }
}
