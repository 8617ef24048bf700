//! Names of the show-callback addresses events carry, each built once and
//! shared: a read reports its callback in several events, and a name per
//! event was an allocation per event.

use std::{cell::RefCell, collections::HashMap, sync::Arc};

use crate::kernel::kallsyms::Kallsyms;

/// Distinct addresses remembered at most. Callbacks are a few hundred kernel
/// functions; an address that is not one (a misread pointer) is still named,
/// just not kept once this many are.
const MAX_KEPT: usize = 4096;

/// Kernel symbols, with the names already asked for.
pub struct ShowNames {
    kallsyms: Kallsyms,
    known: RefCell<HashMap<u64, Option<Arc<str>>>>,
}

impl ShowNames {
    /// Names from `kallsyms`.
    pub fn new(kallsyms: Kallsyms) -> Self {
        ShowNames {
            kallsyms,
            known: RefCell::default(),
        }
    }

    /// The symbols themselves.
    pub fn kallsyms(&self) -> &Kallsyms {
        &self.kallsyms
    }

    /// The function at `addr`, with its offset when not at its start.
    pub fn name(&self, addr: u64) -> Option<Arc<str>> {
        if let Some(name) = self.known.borrow().get(&addr) {
            return name.clone();
        }
        let name: Option<Arc<str>> = self.kallsyms.resolve(addr).map(|s| match s.offset {
            0 => s.name.into(),
            off => format!("{}+{off:#x}", s.name).into(),
        });
        let mut known = self.known.borrow_mut();
        if known.len() < MAX_KEPT {
            known.insert(addr, name.clone());
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> ShowNames {
        let text = "ffffffff81000000 T proc_single_show\nffffffff81000100 T proc_pid_limits\n";
        ShowNames::new(Kallsyms::parse(text.as_bytes()).unwrap())
    }

    #[test]
    fn a_name_is_built_once_and_shared() {
        let n = names();
        let a = n.name(0xffffffff81000100).unwrap();
        let b = n.name(0xffffffff81000100).unwrap();
        assert_eq!(&*a, "proc_pid_limits");
        assert!(Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn an_address_inside_a_function_names_its_offset() {
        let name = names().name(0xffffffff81000010);
        assert_eq!(name.as_deref(), Some("proc_single_show+0x10"));
    }
}
