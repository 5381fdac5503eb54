//! What one worker thread owns: its VM instance of every plugin, its HTTP client for upstreams
//! and filters' calls, the queue of finished streams and the count of open connections.

use std::rc::Rc;
use std::sync::Arc;

use crate::gateway::Gateway;
use crate::http::client::HttpClient;
use crate::proxy::conn::ConnectionCount;
use crate::proxy::finish::FinishQueue;
use crate::vm::slot::PluginSlot;

pub(crate) struct Worker {
    pub(crate) index: usize,
    pub(crate) gateway: Arc<Gateway>,
    pub(crate) slots: Vec<Rc<PluginSlot>>,
    pub(crate) client: Rc<HttpClient>,
    pub(crate) finished: Rc<FinishQueue>,
    /// Open client connections, capped at `worker_connections`.
    pub(crate) connections: Rc<ConnectionCount>,
}

impl Worker {
    /// Instantiates every plugin for worker `index`.
    pub(crate) fn start(index: usize, gateway: Arc<Gateway>) -> Result<Worker, String> {
        let client = HttpClient::new(gateway.tls.clone());
        let modules: Vec<&wasmtime::Module> = gateway.plugins.iter().map(|p| &p.module).collect();
        let linker = crate::vm::linker(&gateway.engine, &modules)?;
        let mut slots = Vec::new();
        for (plugin, runtime) in gateway.plugins.iter().enumerate() {
            let label = format!(
                "{}: plugins[{plugin}] ({})",
                gateway.config.file,
                runtime.spec.scope_label()
            );
            let pre = linker
                .instantiate_pre(&runtime.module)
                .map_err(|e| format!("{label}: cannot link the module: {e:#}"))?;
            let slot = PluginSlot::start(plugin, index, gateway.clone(), pre, client.clone())
                .map_err(|e| format!("{label}: {e}"))?;
            slots.push(slot);
        }
        Ok(Worker {
            index,
            gateway,
            slots,
            client,
            finished: Rc::new(FinishQueue::default()),
            connections: Rc::new(ConnectionCount::default()),
        })
    }
}
