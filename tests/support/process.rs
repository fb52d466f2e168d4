//! The variables a component needs when it runs as its own `shop serve`
//! process on its design ports, read off the component list.

use shop_topology::Component;

/// `LISTEN_ADDR` and `ADMIN_ADDR` on `host` at the design ports, the
/// service's own `DATABASE_URL` (`database_url(role)`), and the address
/// variable of every component it calls.
pub fn own_process_env(
    component: Component,
    host: &str,
    database_url: impl Fn(&str) -> String,
) -> Vec<(&'static str, String)> {
    let spec = component.spec();
    let mut env = vec![
        ("LISTEN_ADDR", format!("{host}:{}", spec.port)),
        ("ADMIN_ADDR", format!("{host}:{}", spec.admin_port)),
    ];
    if let Some(db) = spec.database {
        env.push(("DATABASE_URL", database_url(db.role)));
    }
    for callee in spec.calls {
        let callee = callee.spec();
        if let Some(var) = callee.addr_var {
            env.push((var, format!("http://{host}:{}", callee.port)));
        }
    }
    env
}
