//! The writes both tree modes share (`MapleTree<E, Owned>` and a shared tree's writer,
//! `MapleTree<E, Shared>`), each applied to the tree and to the model with every result
//! compared.

use std::sync::atomic::AtomicIsize;
use std::sync::Arc;

use arbitrary::Arbitrary;
use maple_tree::{Error, MapleTree, TakeOld, TreeKind};

use super::model::{pair, Ent, Key, Model, Slot, Span};

/// Most single stores the fills of one input make, so that each execution stays short.
pub const MAX_FILL: usize = 1_500;

/// A fuzz value as a model value.
pub fn val(v: u8) -> u64 {
    u64::from(v)
}

/// A write, with what it needs from the input.
#[derive(Arbitrary, Debug)]
pub enum WriteOp {
    Store(Span, u8),
    StoreIdx(Key, u8),
    Insert(Span, u8),
    InsertIdx(Key, u8),
    Erase(Key),
    EraseRange(Span),
    Reserve(Span),
    Fill {
        start: Key,
        n: u8,
        stride: u8,
        len: u8,
        v: u8,
    },
    TryExtend(Vec<(Span, u8)>),
    Alloc {
        size: Key,
        span: Span,
        rev: bool,
        v: u8,
    },
    AllocCyclic(Span, u8),
    SetNext(Key),
    Cursor {
        at: Key,
        walk: bool,
        how: CursorWrite,
        v: u8,
    },
    Prealloc {
        span: Span,
        v: u8,
        store: bool,
    },
}

/// A write through a cursor.
#[derive(Arbitrary, Debug)]
pub enum CursorWrite {
    Store,
    Erase,
    Replace,
    SetRange(Span),
    EmptyArea(Span, Key, bool),
    StoreRange(Span),
}

/// What writes carry from one to the next: the cyclic allocator's `next` (the tree's and the
/// model's) and how many fill stores were made.
#[derive(Default, Debug)]
pub struct WriteState {
    pub next: u64,
    pub mnext: u64,
    pub filled: usize,
}

/// Applies `op` to the tree and the model and compares every result.
pub fn apply_write<E: Ent, M: TakeOld<E>>(
    t: &mut MapleTree<E, M>,
    m: &mut Model,
    st: &mut WriteState,
    live_count: &Arc<AtomicIsize>,
    op: &WriteOp,
    ctx: &dyn Fn() -> String,
) {
    let kind = t.kind();
    let mk = |v: u64| E::mk(live_count, v);
    match op {
        WriteOp::Store(span, v) => {
            let got = t
                .store_range(*span, mk(val(*v)))
                .map(|o| o.map(|e| e.id()))
                .map_err(|e| (e.error, e.entry.id()));
            let exp = match span.incl() {
                Some((a, b)) => Ok(m.store(a, b, Slot::Val(val(*v))).val()),
                None => Err((Error::Invalid, val(*v))),
            };
            assert_eq!(got, exp, "{}", ctx());
        }
        &WriteOp::StoreIdx(Key(i), v) => {
            let got = t.store(i, mk(val(v))).map(|o| o.map(|e| e.id()));
            let exp = m.store(i, i, Slot::Val(val(v))).val();
            assert_eq!(got.map_err(|e| e.error), Ok(exp), "{}", ctx());
        }
        WriteOp::Insert(span, v) => {
            let got = t
                .insert_range(*span, mk(val(*v)))
                .map_err(|e| (e.error, e.entry.id()));
            let exp = match span.incl() {
                None => Err((Error::Invalid, val(*v))),
                Some((a, b)) if m.insert_ok(a, b) => {
                    m.store(a, b, Slot::Val(val(*v)));
                    Ok(())
                }
                Some(_) => Err((Error::Exists, val(*v))),
            };
            assert_eq!(got, exp, "{}", ctx());
        }
        &WriteOp::InsertIdx(Key(i), v) => {
            let got = t.insert(i, mk(val(v))).map_err(|e| (e.error, e.entry.id()));
            let exp = if m.insert_ok(i, i) {
                m.store(i, i, Slot::Val(val(v)));
                Ok(())
            } else {
                Err((Error::Exists, val(v)))
            };
            assert_eq!(got, exp, "{}", ctx());
        }
        &WriteOp::Erase(Key(i)) => {
            let got = t.erase(i).map(|o| o.map(|(r, e)| (pair(&r), e.id())));
            let (f, l, s) = m.containing(i);
            let exp = match s {
                Slot::Val(v) => Some(((f, l), v)),
                _ => None,
            };
            if s != Slot::Empty {
                m.store(f, l, Slot::Empty);
            }
            assert_eq!(got, Ok(exp), "{}", ctx());
        }
        WriteOp::EraseRange(span) => {
            let got = t.erase_range(*span);
            let exp = match span.incl() {
                Some((a, b)) => {
                    m.store(a, b, Slot::Empty);
                    Ok(())
                }
                None => Err(Error::Invalid),
            };
            assert_eq!(got, exp, "{}", ctx());
        }
        WriteOp::Reserve(span) => {
            let got = t.reserve_range(*span);
            let exp = match span.incl() {
                Some((a, b)) => {
                    m.store(a, b, Slot::Zero);
                    Ok(())
                }
                None => Err(Error::Invalid),
            };
            assert_eq!(got, exp, "{}", ctx());
        }
        &WriteOp::Fill {
            start: Key(start),
            n: count,
            stride,
            len,
            v,
        } => {
            let mut f = start;
            for j in 0..u64::from(count) {
                if st.filled >= MAX_FILL {
                    break;
                }
                st.filled += 1;
                let l = f.saturating_add(u64::from(len));
                let x = val(v) + j % 3;
                let got = t.store_range(f..=l, mk(x)).map(|o| o.map(|e| e.id()));
                let exp = m.store(f, l, Slot::Val(x)).val();
                assert_eq!(
                    got.map_err(|e| e.error),
                    Ok(exp),
                    "{} store {f}..={l}",
                    ctx()
                );
                if j % 16 == 15 {
                    t.validate()
                        .unwrap_or_else(|e| panic!("{e}; {} store {f}..={l}", ctx()));
                }
                match f.checked_add(u64::from(stride) + 1) {
                    Some(x) => f = x,
                    None => break,
                }
            }
        }
        WriteOp::TryExtend(items) => {
            let items = &items[..items.len().min(24)];
            let got = t
                .try_extend(items.iter().map(|(s, v)| (*s, mk(val(*v)))))
                .map_err(|e| (e.error, e.entry.id()));
            let mut failed = None;
            for (span, v) in items {
                match span.incl() {
                    Some((a, b)) => {
                        m.store(a, b, Slot::Val(val(*v)));
                    }
                    None => {
                        failed = Some(val(*v));
                        break;
                    }
                }
            }
            let exp = failed.map_or(Ok(()), |v| Err((Error::Invalid, v)));
            assert_eq!(got, exp, "{}", ctx());
        }
        &WriteOp::Alloc {
            size: Key(size),
            span,
            rev,
            v,
        } => {
            let size = if size > 1 << 60 { size } else { size % 64 };
            let got = if rev {
                t.alloc_rrange(size, span, mk(val(v)))
            } else {
                t.alloc_range(size, span, mk(val(v)))
            }
            .map_err(|e| (e.error, e.entry.id()));
            let exp = match span.incl() {
                _ if kind == TreeKind::Plain => Err(Error::Invalid),
                None => Err(Error::Invalid),
                Some((lo, hi)) => {
                    if rev {
                        m.area_rev(lo, hi, size)
                    } else {
                        m.area(lo, hi, size)
                    }
                }
            };
            let exp = match exp {
                Ok((a, b)) => {
                    m.store(a, b, Slot::Val(val(v)));
                    Ok(a)
                }
                Err(e) => Err((e, val(v))),
            };
            assert_eq!(got, exp, "{}", ctx());
        }
        &WriteOp::AllocCyclic(span, v) => {
            let got = t
                .alloc_cyclic(span, &mut st.next, mk(val(v)))
                .map_err(|e| (e.error, e.entry.id()));
            let exp = match span.incl() {
                _ if kind == TreeKind::Plain => Err(Error::Invalid),
                None => Err(Error::Invalid),
                Some((lo, hi)) => m.cyclic(lo, hi, &mut st.mnext),
            };
            let exp = match exp {
                Ok((i, w)) => {
                    m.store(i, i, Slot::Val(val(v)));
                    Ok((i, w))
                }
                Err(e) => Err((e, val(v))),
            };
            assert_eq!(got, exp, "{}", ctx());
            assert_eq!(st.next, st.mnext, "cyclic next; {}", ctx());
        }
        &WriteOp::SetNext(Key(k)) => {
            st.next = k;
            st.mnext = k;
        }
        &WriteOp::Cursor {
            at: Key(at),
            walk,
            ref how,
            v,
        } => cursor_write(t, m, at, walk, how, mk(val(v)), ctx),
        &WriteOp::Prealloc { span, v, store } => match t.preallocate(span) {
            Err(e) => {
                assert_eq!(span.incl(), None, "preallocate refused: {e}; {}", ctx());
                assert_eq!(e, Error::Invalid, "{}", ctx());
            }
            Ok(p) => {
                let (lo, hi) = span
                    .incl()
                    .unwrap_or_else(|| panic!("preallocate accepted an empty range; {}", ctx()));
                assert_eq!(pair(&p.range()), (lo, hi), "{}", ctx());
                assert_eq!(
                    p.load(lo).map(E::rid),
                    m.containing(lo).2.val(),
                    "a read through the reservation; {}",
                    ctx()
                );
                if store {
                    let got = p.store(mk(val(v))).map(|e| e.id());
                    let exp = m.store(lo, hi, Slot::Val(val(v))).val();
                    assert_eq!(got, exp, "{}", ctx());
                }
            }
        },
    }
}

fn cursor_write<E: Ent, M: TakeOld<E>>(
    t: &mut MapleTree<E, M>,
    m: &mut Model,
    at: u64,
    walk: bool,
    how: &CursorWrite,
    e: E,
    ctx: &dyn Fn() -> String,
) {
    let v = e.id();
    let mut c = t.cursor_mut(at);
    let (f, l, s) = m.containing(at);
    if walk {
        assert_eq!(c.walk(at).map(E::rid), s.val(), "cursor walk; {}", ctx());
        assert_eq!(pair(&c.range()), (f, l), "range() after walk; {}", ctx());
    }
    match how {
        CursorWrite::Store => {
            // A fresh cursor stores over its index alone; a walked one over the range.
            let (a, b) = if walk { (f, l) } else { (at, at) };
            let got = c.store(e).map(|o| o.map(|e| e.id())).map_err(|e| e.error);
            let exp = m.store(a, b, Slot::Val(v)).val();
            assert_eq!(got, Ok(exp), "cursor store over {a}..={b}; {}", ctx());
            assert_eq!(pair(&c.range()), (a, b), "range() after store; {}", ctx());
        }
        CursorWrite::Erase => {
            let got = c.erase().map(|o| o.map(|e| e.id()));
            if s != Slot::Empty {
                m.store(f, l, Slot::Empty);
            }
            assert_eq!(got, Ok(s.val()), "cursor erase; {}", ctx());
            let (nf, nl, _) = m.containing(f);
            assert_eq!(pair(&c.range()), (nf, nl), "range() after erase; {}", ctx());
            drop(e);
        }
        CursorWrite::Replace => {
            let got = c.replace(e).map(|o| o.id()).map_err(|e| e.id());
            match s {
                Slot::Val(old) if walk => {
                    m.store(f, l, Slot::Val(v));
                    assert_eq!(got, Ok(old), "cursor replace; {}", ctx());
                    assert_eq!(
                        c.entry().map(E::rid),
                        Some(v),
                        "entry() after replace; {}",
                        ctx()
                    );
                }
                _ => assert_eq!(got, Err(v), "cursor replace off an entry; {}", ctx()),
            }
        }
        CursorWrite::SetRange(span) => {
            c.set_range(*span);
            let got = c
                .store(e)
                .map(|o| o.map(|e| e.id()))
                .map_err(|e| (e.error, e.entry.id()));
            let exp = match span.incl() {
                Some((a, b)) => Ok(m.store(a, b, Slot::Val(v)).val()),
                None => Err((Error::Invalid, v)),
            };
            assert_eq!(got, exp, "set_range + store; {}", ctx());
        }
        &CursorWrite::EmptyArea(span, Key(size), rev) => {
            let size = size % 64;
            let got = if rev {
                c.empty_area_rev(span, size)
            } else {
                c.empty_area(span, size)
            }
            .map(|r| pair(&r));
            let exp = match span.incl() {
                None => Err(Error::Invalid),
                Some((lo, hi)) if rev => m.area_rev(lo, hi, size),
                Some((lo, hi)) => m.area(lo, hi, size),
            };
            assert_eq!(got, exp, "cursor empty_area (rev {rev}); {}", ctx());
            if let Ok((a, b)) = exp {
                assert_eq!(pair(&c.range()), (a, b), "range() on the hole; {}", ctx());
                let got = c.store(e).map(|o| o.map(|e| e.id())).map_err(|e| e.error);
                assert_eq!(got, Ok(None), "store into the hole; {}", ctx());
                m.store(a, b, Slot::Val(v));
            }
        }
        CursorWrite::StoreRange(span) => {
            let got = c
                .store_range(*span, e)
                .map(|o| o.map(|e| e.id()))
                .map_err(|e| (e.error, e.entry.id()));
            let exp = match span.incl() {
                Some((a, b)) => Ok(m.store(a, b, Slot::Val(v)).val()),
                None => Err((Error::Invalid, v)),
            };
            assert_eq!(got, exp, "cursor store_range; {}", ctx());
            if let Some((a, b)) = span.incl() {
                assert_eq!(
                    pair(&c.range()),
                    (a, b),
                    "range() after store_range; {}",
                    ctx()
                );
            }
        }
    }
}
