//! Route matching (longest path prefix, as Kong orders prefix routes) and each route's filter
//! chain: global plugins, then the service's, then the route's, each in config order.

use crate::config::{GatewayConfig, PluginScope};

pub(crate) struct Router {
    /// (prefix, route index), longest prefix first.
    prefixes: Vec<(String, usize)>,
    /// Per route: plugin indexes in chain order.
    chains: Vec<Vec<usize>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RouteMatch {
    pub(crate) route: usize,
    pub(crate) prefix: String,
}

impl Router {
    pub(crate) fn new(config: &GatewayConfig) -> Router {
        let mut prefixes: Vec<(String, usize)> = config
            .routes
            .iter()
            .enumerate()
            .flat_map(|(index, route)| route.paths.iter().map(move |p| (p.clone(), index)))
            .collect();
        prefixes.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        let chains = config
            .routes
            .iter()
            .enumerate()
            .map(|(index, route)| {
                let mut chain = Vec::new();
                for wanted in [
                    PluginScope::Global,
                    PluginScope::Service(route.service),
                    PluginScope::Route(index),
                ] {
                    chain.extend(
                        config
                            .plugins
                            .iter()
                            .enumerate()
                            .filter(|(_, p)| p.scope == wanted)
                            .map(|(i, _)| i),
                    );
                }
                chain
            })
            .collect();
        Router { prefixes, chains }
    }

    pub(crate) fn find(&self, path: &str) -> Option<RouteMatch> {
        self.prefixes
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix.as_str()))
            .map(|(prefix, route)| RouteMatch {
                route: *route,
                prefix: prefix.clone(),
            })
    }

    pub(crate) fn chain(&self, route: usize) -> &[usize] {
        self.chains.get(route).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Kong's path handling: with `strip_path` the matched prefix is removed, then the rest is
/// appended to the service's path with exactly one slash between them.
pub(crate) fn upstream_path(
    service_path: &str,
    request_path: &str,
    prefix: &str,
    strip_path: bool,
) -> String {
    let rest = if strip_path {
        request_path.strip_prefix(prefix).unwrap_or(request_path)
    } else {
        request_path
    };
    if rest.is_empty() || rest.starts_with('?') {
        return format!("{service_path}{rest}");
    }
    match (service_path.ends_with('/'), rest.starts_with('/')) {
        (true, true) => format!("{service_path}{}", &rest[1..]),
        (false, false) => format!("{service_path}/{rest}"),
        _ => format!("{service_path}{rest}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_paths_like_kong() {
        assert_eq!(upstream_path("/", "/a/b?x=1", "/", true), "/a/b?x=1");
        assert_eq!(upstream_path("/", "/api/users", "/api", true), "/users");
        assert_eq!(upstream_path("/", "/api", "/api", true), "/");
        assert_eq!(upstream_path("/base", "/api", "/api", true), "/base");
        assert_eq!(upstream_path("/base", "/api/x", "/api", true), "/base/x");
        assert_eq!(
            upstream_path("/base/", "/api/x", "/api", false),
            "/base/api/x"
        );
        assert_eq!(upstream_path("/", "/api?q", "/api", true), "/?q");
    }
}
