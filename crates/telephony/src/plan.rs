//! The dial plan in memory: trunks by address, numbers (DIDs) to destinations, outbound routes
//! by longest prefix. Loaded from the store at start and every few seconds after; calls are
//! routed without waiting on the database.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use hotline_sip::b2bua::Credentials;
use hotline_sip::transaction::Transport;
use hotline_store::dialplan::DialPlan;

#[derive(Clone, Debug)]
pub struct Trunk {
    pub id: i64,
    pub tenant_id: i64,
    pub name: String,
    pub host: String,
    pub addr: SocketAddr,
    pub transport: Transport,
    pub credentials: Option<Credentials>,
    pub register: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// An agent's phone, by extension.
    Extension(String),
    /// Out through a trunk, to this number.
    Trunk { trunk: usize, number: String },
    /// Answered by Hotline itself.
    Service(crate::media::App),
    /// Answered by Hotline and run through the tenant's flow of this name.
    Flow(String),
}

struct Route {
    prefix: String,
    trunk: usize,
    strip: usize,
    prepend: String,
}

#[derive(Default)]
pub struct Plan {
    pub trunks: Vec<Trunk>,
    by_ip: HashMap<IpAddr, Vec<usize>>,
    numbers: HashMap<(i64, String), Destination>,
    /// Per tenant, longest prefix first.
    routes: HashMap<i64, Vec<Route>>,
}

impl Plan {
    /// Builds the plan; trunk host names are resolved now (a trunk whose name does not
    /// resolve is left out and logged).
    pub async fn build(plan: DialPlan) -> Plan {
        let mut out = Plan::default();
        let mut index_of = HashMap::new();
        for t in plan.trunks {
            let port = u16::try_from(t.port).unwrap_or(5060);
            let addr = match t.host.parse::<IpAddr>() {
                Ok(ip) => Some(SocketAddr::new(ip, port)),
                Err(_) => tokio::net::lookup_host((t.host.as_str(), port))
                    .await
                    .ok()
                    .and_then(|mut a| a.next()),
            };
            let Some(addr) = addr else {
                tracing::warn!(trunk = %t.name, host = %t.host, "trunk host does not resolve; trunk unused");
                continue;
            };
            let credentials = match (t.username, t.password) {
                (Some(username), Some(password)) => Some(Credentials { username, password }),
                _ => None,
            };
            let i = out.trunks.len();
            index_of.insert(t.id, i);
            out.by_ip.entry(addr.ip()).or_default().push(i);
            out.trunks.push(Trunk {
                id: t.id,
                tenant_id: t.tenant_id,
                name: t.name,
                host: t.host,
                addr,
                transport: if t.transport == "tcp" {
                    Transport::Tcp
                } else {
                    Transport::Udp
                },
                credentials,
                register: t.register,
            });
        }
        for n in plan.numbers {
            let dest = match n.kind.as_str() {
                "extension" => Destination::Extension(n.target),
                "service" => match n.target.as_str() {
                    "test" => Destination::Service(crate::media::App::TestLine),
                    _ => continue,
                },
                "flow" => Destination::Flow(n.target),
                _ => {
                    let Some(trunk) = out
                        .trunks
                        .iter()
                        .position(|t| t.tenant_id == n.tenant_id && t.name == n.target)
                    else {
                        continue;
                    };
                    Destination::Trunk {
                        trunk,
                        number: n.number.clone(),
                    }
                }
            };
            out.numbers.insert((n.tenant_id, n.number), dest);
        }
        for r in plan.routes {
            let Some(&trunk) = index_of.get(&r.trunk_id) else {
                continue;
            };
            out.routes.entry(r.tenant_id).or_default().push(Route {
                prefix: r.prefix,
                trunk,
                strip: usize::try_from(r.strip).unwrap_or(0),
                prepend: r.prepend,
            });
        }
        for routes in out.routes.values_mut() {
            routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        }
        out
    }

    /// The trunk a request from `addr` came over: same IP, the same port preferred.
    pub fn trunk_from(&self, addr: SocketAddr) -> Option<&Trunk> {
        let candidates = self.by_ip.get(&addr.ip())?;
        candidates
            .iter()
            .map(|&i| &self.trunks[i])
            .find(|t| t.addr.port() == addr.port())
            .or_else(|| candidates.first().map(|&i| &self.trunks[i]))
    }

    pub fn number(&self, tenant_id: i64, number: &str) -> Option<&Destination> {
        self.numbers.get(&(tenant_id, number.to_string()))
    }

    /// Where a number dialled by one of the tenant's phones leaves: its trunk and the number
    /// as the carrier is to see it.
    pub fn route_out(&self, tenant_id: i64, dialled: &str) -> Option<(usize, String)> {
        let r = self
            .routes
            .get(&tenant_id)?
            .iter()
            .find(|r| dialled.starts_with(&r.prefix))?;
        let rest = dialled.get(r.strip.min(dialled.len())..).unwrap_or("");
        Some((r.trunk, format!("{}{rest}", r.prepend)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_store::dialplan::{SipNumber, SipRoute, SipTrunk};

    #[tokio::test]
    async fn lookups() {
        let trunk = |id, tenant_id, name: &str, host: &str, port| SipTrunk {
            id,
            tenant_id,
            name: name.into(),
            host: host.into(),
            port,
            transport: "udp".into(),
            username: None,
            password: None,
            register: false,
        };
        let plan = Plan::build(DialPlan {
            trunks: vec![
                trunk(1, 1, "a", "192.0.2.1", 5060),
                trunk(2, 1, "b", "192.0.2.1", 5070),
                trunk(3, 2, "c", "no-such-host.invalid", 5060),
            ],
            numbers: vec![
                SipNumber {
                    id: 1,
                    tenant_id: 1,
                    number: "100".into(),
                    kind: "extension".into(),
                    target: "1001".into(),
                },
                SipNumber {
                    id: 2,
                    tenant_id: 1,
                    number: "200".into(),
                    kind: "trunk".into(),
                    target: "b".into(),
                },
            ],
            routes: vec![
                SipRoute {
                    id: 1,
                    tenant_id: 1,
                    prefix: "8".into(),
                    trunk_id: 1,
                    strip: 1,
                    prepend: "+7".into(),
                },
                SipRoute {
                    id: 2,
                    tenant_id: 1,
                    prefix: "810".into(),
                    trunk_id: 2,
                    strip: 3,
                    prepend: "+".into(),
                },
            ],
        })
        .await;
        assert_eq!(plan.trunks.len(), 2, "an unresolvable trunk is left out");
        let from = |p| plan.trunk_from(SocketAddr::new("192.0.2.1".parse().unwrap(), p));
        assert_eq!(from(5070).map(|t| t.id), Some(2));
        assert_eq!(from(40000).map(|t| t.id), Some(1));
        assert!(plan.trunk_from("192.0.2.2:5060".parse().unwrap()).is_none());
        assert_eq!(
            plan.number(1, "100"),
            Some(&Destination::Extension("1001".into()))
        );
        assert_eq!(
            plan.number(1, "200"),
            Some(&Destination::Trunk {
                trunk: 1,
                number: "200".into()
            })
        );
        assert_eq!(plan.number(2, "100"), None);
        assert_eq!(
            plan.route_out(1, "84951234567"),
            Some((0, "+74951234567".into()))
        );
        assert_eq!(
            plan.route_out(1, "81049301234"),
            Some((1, "+49301234".into()))
        );
        assert_eq!(plan.route_out(1, "999"), None);
        assert_eq!(plan.route_out(2, "8"), None);
    }
}
