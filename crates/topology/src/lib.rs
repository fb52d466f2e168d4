//! The one list of Shop's components.
//!
//! Every place that needs to know all components follows [`Component::ALL`]:
//! `shop up`, `shop serve`, `shop faults`, the test stack, the deployment
//! test (compose, Kubernetes, the Dockerfile, Prometheus and the contract
//! are checked against it) and the SQL bootstrap (its role list is checked
//! against [`service_roles`]). Adding a component is a new variant of
//! [`Component`]: the compiler then names each `match` that must learn it,
//! and the deployment test each file.
//!
//! This crate depends on nothing, so every other crate (the runtime kit
//! excepted) may use it.

/// A component of the shop: a gRPC service or the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Component {
    /// product-service: catalog, stock and reservations.
    Product,
    /// cart-service: carts, priced through product-service.
    Cart,
    /// order-service: orders and the checkout saga.
    Order,
    /// fulfillment-service: shipments, made by order events.
    Fulfillment,
    /// The HTTP gateway: REST API, auth and the storefront.
    Gateway,
}

/// What a component's process owns and whom it calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// Component name in logs, metrics and traces; also its binary, its
    /// image, its compose service and its Kubernetes Deployment.
    pub name: &'static str,
    /// The short name `shop serve` takes (`product`).
    pub short: &'static str,
    /// Design port of the main listener (gRPC, or HTTP for the gateway).
    pub port: u16,
    /// Design port of the admin listener (`/metrics`, `/readyz`, `/faults`).
    pub admin_port: u16,
    /// Fully qualified gRPC service; `None` for the HTTP gateway.
    pub grpc_service: Option<&'static str>,
    /// The variable the component's callers read its address from.
    pub addr_var: Option<&'static str>,
    /// The schema it owns and the login role it connects as.
    pub database: Option<Database>,
    /// The components it calls.
    pub calls: &'static [Component],
}

/// A service's own schema and login role (`db/bootstrap.sql`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Database {
    /// The schema the role owns, and its `search_path`.
    pub schema: &'static str,
    /// The login role.
    pub role: &'static str,
}

const PRODUCT: Spec = Spec {
    name: "product-service",
    short: "product",
    port: 50051,
    admin_port: 9101,
    grpc_service: Some("shop.product.v1.ProductService"),
    addr_var: Some("PRODUCT_SERVICE_ADDR"),
    database: Some(Database {
        schema: "product",
        role: "product_svc",
    }),
    calls: &[],
};

const CART: Spec = Spec {
    name: "cart-service",
    short: "cart",
    port: 50052,
    admin_port: 9102,
    grpc_service: Some("shop.cart.v1.CartService"),
    addr_var: Some("CART_SERVICE_ADDR"),
    database: Some(Database {
        schema: "cart",
        role: "cart_svc",
    }),
    calls: &[Component::Product],
};

const ORDER: Spec = Spec {
    name: "order-service",
    short: "order",
    port: 50053,
    admin_port: 9103,
    grpc_service: Some("shop.order.v1.OrderService"),
    addr_var: Some("ORDER_SERVICE_ADDR"),
    database: Some(Database {
        schema: "orders",
        role: "order_svc",
    }),
    calls: &[Component::Cart, Component::Product],
};

const FULFILLMENT: Spec = Spec {
    name: "fulfillment-service",
    short: "fulfillment",
    port: 50054,
    admin_port: 9104,
    grpc_service: Some("shop.fulfillment.v1.FulfillmentService"),
    addr_var: Some("FULFILLMENT_SERVICE_ADDR"),
    database: Some(Database {
        schema: "fulfillment",
        role: "fulfillment_svc",
    }),
    // It learns of orders through events, not calls (docs/events.md).
    calls: &[],
};

const GATEWAY: Spec = Spec {
    name: "gateway",
    short: "gateway",
    port: 8080,
    admin_port: 8081,
    grpc_service: None,
    addr_var: None,
    database: None,
    calls: &[
        Component::Product,
        Component::Cart,
        Component::Order,
        Component::Fulfillment,
    ],
};

impl Component {
    /// Every component, in start order: each after the ones it calls.
    pub const ALL: [Component; 5] = [
        Component::Product,
        Component::Cart,
        Component::Order,
        Component::Fulfillment,
        Component::Gateway,
    ];

    /// The component's names, ports, schema and calls.
    pub const fn spec(self) -> &'static Spec {
        match self {
            Component::Product => &PRODUCT,
            Component::Cart => &CART,
            Component::Order => &ORDER,
            Component::Fulfillment => &FULFILLMENT,
            Component::Gateway => &GATEWAY,
        }
    }

    /// Component name (`cart-service`).
    pub const fn name(self) -> &'static str {
        self.spec().name
    }

    /// The component named `name`, by its full (`cart-service`) or short
    /// (`cart`) name.
    pub fn from_name(name: &str) -> Option<Component> {
        Self::ALL
            .into_iter()
            .find(|c| c.spec().name == name || c.spec().short == name)
    }

    /// Whether `grpc_service` is the gRPC service this component serves:
    /// a service asserts it at compile time against its generated name.
    pub const fn serves(self, grpc_service: &str) -> bool {
        let Some(ours) = self.spec().grpc_service else {
            return false;
        };
        let (a, b) = (ours.as_bytes(), grpc_service.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }

    /// Every component's name, comma-separated, for error messages.
    pub fn names() -> String {
        Self::ALL.map(Component::name).join(", ")
    }

    /// The default address of its main listener on loopback, with scheme
    /// (`http://127.0.0.1:50052`): what a caller uses when `addr_var` is unset.
    pub fn local_addr(self) -> String {
        format!("http://127.0.0.1:{}", self.spec().port)
    }
}

impl std::fmt::Display for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The gRPC services (every component with a schema), in start order.
pub fn services() -> impl Iterator<Item = Component> {
    Component::ALL
        .into_iter()
        .filter(|c| c.spec().grpc_service.is_some())
}

/// Every service's login role, as `db/bootstrap.sql` creates them.
pub fn service_roles() -> impl Iterator<Item = &'static str> {
    Component::ALL
        .into_iter()
        .filter_map(|c| c.spec().database.map(|d| d.role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_component_is_started_after_the_components_it_calls() {
        for (i, c) in Component::ALL.iter().enumerate() {
            for callee in c.spec().calls {
                let at = Component::ALL.iter().position(|x| x == callee).unwrap();
                assert!(at < i, "{c} calls {callee}, which starts later");
            }
        }
    }

    #[test]
    fn names_ports_roles_and_schemas_are_unique() {
        let specs: Vec<&Spec> = Component::ALL.iter().map(|c| c.spec()).collect();
        let mut seen = std::collections::HashSet::new();
        for s in &specs {
            let mut names = vec![s.name];
            if s.short != s.name {
                names.push(s.short);
            }
            for key in names {
                assert!(seen.insert(format!("name {key}")), "{key} twice");
            }
            for port in [s.port, s.admin_port] {
                assert!(seen.insert(format!("port {port}")), "port {port} twice");
            }
            if let Some(db) = s.database {
                assert!(seen.insert(format!("role {}", db.role)));
                assert!(seen.insert(format!("schema {}", db.schema)));
            }
        }
    }

    #[test]
    fn a_grpc_service_has_an_address_variable_and_a_database() {
        for c in Component::ALL {
            let s = c.spec();
            assert_eq!(s.grpc_service.is_some(), s.addr_var.is_some(), "{c}");
            assert_eq!(s.grpc_service.is_some(), s.database.is_some(), "{c}");
        }
    }

    #[test]
    fn a_component_is_found_by_its_full_or_short_name_and_nothing_else() {
        assert_eq!(Component::from_name("cart-service"), Some(Component::Cart));
        assert_eq!(Component::from_name("cart"), Some(Component::Cart));
        assert_eq!(Component::from_name("carts"), None);
    }
}
