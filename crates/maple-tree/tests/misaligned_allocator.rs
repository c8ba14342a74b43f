//! A global allocator that breaks the alignment contract (as Debian's packaged mimalloc 2.0.9
//! does for 256-byte alignments) must be caught where the node is allocated, with a panic that
//! names the alignment, before the tree is corrupted: a node's low four bits carry slot numbers
//! and kind bits. The panic cannot unwind (the write that
//! asked for the node is half done), so the process stops: the test runs it in a child.
#![cfg(not(miri))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use maple_tree::{MapleTree, Value, NODE_ALIGN, NODE_SIZE};

/// Serves node-sized, node-aligned requests from 8 bytes into a 16-aligned block while armed.
struct HalfAligned;

static ARMED: AtomicBool = AtomicBool::new(false);
const SHIFT: usize = 8;

fn is_node(layout: Layout) -> bool {
    layout.size() == NODE_SIZE && layout.align() == NODE_ALIGN
}

fn shifted(layout: Layout) -> Option<Layout> {
    is_node(layout).then(|| Layout::from_size_align(layout.size() + SHIFT, NODE_ALIGN).unwrap())
}

// SAFETY: every block comes from `System`. Shifted blocks are recognised on the way back by
// the low bits of their address (a block `System` hands out for a 16 alignment has none).
unsafe impl GlobalAlloc for HalfAligned {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match shifted(layout) {
            // SAFETY: a non-zero size, forwarded to the system allocator.
            Some(big) if ARMED.load(Ordering::Relaxed) => unsafe { System.alloc(big).add(SHIFT) },
            // SAFETY: forwarded unchanged.
            _ => unsafe { System.alloc(layout) },
        }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match shifted(layout) {
            // SAFETY: this block was handed out `SHIFT` bytes into a `big` block.
            Some(big) if ptr as usize % NODE_ALIGN == SHIFT => unsafe {
                System.dealloc(ptr.sub(SHIFT), big)
            },
            // SAFETY: forwarded unchanged.
            _ => unsafe { System.dealloc(ptr, layout) },
        }
    }
}

#[global_allocator]
static GLOBAL: HalfAligned = HalfAligned;

const CHILD: &str = "MAPLE_TREE_MISALIGNED_CHILD";

/// In the child: fill a tree until a write needs a node from the misbehaving allocator.
fn child() -> ! {
    let mut tree = MapleTree::new();
    tree.store_range(0..=9, Value::new(0)).unwrap();
    ARMED.store(true, Ordering::Relaxed);
    for i in 1..100u64 {
        tree.store_range(i * 10..=i * 10 + 5, Value::new(i))
            .unwrap();
    }
    eprintln!("no node was allocated while armed");
    std::process::exit(0)
}

#[test]
fn a_misaligned_node_stops_the_process_naming_the_alignment() {
    if std::env::var_os(CHILD).is_some() {
        child();
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_misaligned_node_stops_the_process_naming_the_alignment",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the child went on: {stderr}");
    assert!(
        stderr.contains("aligned to 8 bytes") && stderr.contains("16-byte alignment"),
        "stderr: {stderr}"
    );
}
