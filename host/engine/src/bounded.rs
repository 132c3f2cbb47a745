//! Lifting a guest's list and string results with a cap on what is copied to the host.
//!
//! `Vec<T>` and `String` lift everything: a guest returning a million actions, or a 100 MB
//! reason, made the host allocate several times the guest's own memory cap (each element
//! becomes a host enum plus a heap string), enough to OOM-kill a small Lambda. The lazy
//! `WasmList`/`WasmStr` cannot be used instead: wasmtime runs the guest's post-return (which
//! frees the result) inside `call`, so they would read freed memory afterwards.
//!
//! These types are read during `call`, like `Vec`/`String`, but a list longer than its cap is
//! not read at all, and a string is copied only up to its cap, keeping its true length.
//!
//! They implement wasmtime's `ComponentType`/`Lift` by hand, which wasmtime documents as "at
//! your own risk": every method delegates the ABI (size, alignment, type check) to `Vec<T>` and
//! `String` and reads memory only through bounds-checked slices. wasmtime is pinned to one
//! version in the workspace; its component tests cover these paths (tests/tests/hostile.rs).
#![allow(unsafe_code)]

use wasmtime::ValRaw;
use wasmtime::component::__internal::wasmtime_environ::component::StringEncoding;
use wasmtime::component::__internal::{
    CanonicalAbiInfo, InstanceType, InterfaceType, LiftContext, bad_type_info,
};
use wasmtime::component::{ComponentType, Lift};

/// A guest string, copied up to `CAP` bytes.
#[derive(Debug, Clone)]
pub(crate) struct BoundedStr<const CAP: usize> {
    /// The first `CAP` bytes (fewer, to end on a character boundary), or all of it.
    pub(crate) text: String,
    /// Byte length of the whole string in the guest.
    pub(crate) len: usize,
}

impl<const CAP: usize> BoundedStr<CAP> {
    pub(crate) fn is_cut(&self) -> bool {
        self.text.len() < self.len
    }

    fn load(cx: &mut LiftContext<'_>, ptr: usize, len: usize) -> wasmtime::Result<Self> {
        if !matches!(cx.options().string_encoding, StringEncoding::Utf8) {
            wasmtime::bail!("only UTF-8 guest strings are supported");
        }
        let bytes = ptr
            .checked_add(len)
            .and_then(|end| cx.memory().get(ptr..end))
            .ok_or_else(|| {
                wasmtime::format_err!("string pointer/length out of bounds of memory")
            })?;
        // Validated whole (no copy), so a cut string is still known to be text.
        let text = std::str::from_utf8(bytes)?;
        let mut end = text.len().min(CAP);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Ok(Self {
            text: text[..end].to_string(),
            len,
        })
    }
}

// SAFETY: represented exactly as `String` (a pointer/length pair), whose ABI and type check
// these delegate to.
unsafe impl<const CAP: usize> ComponentType for BoundedStr<CAP> {
    type Lower = [ValRaw; 2];
    const ABI: CanonicalAbiInfo = <String as ComponentType>::ABI;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <String as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: reads the pointer/length pair as `String` does and then only a bounds-checked slice
// of linear memory.
unsafe impl<const CAP: usize> Lift for BoundedStr<CAP> {
    fn linear_lift_from_flat(
        cx: &mut LiftContext<'_>,
        _ty: InterfaceType,
        src: &Self::Lower,
    ) -> wasmtime::Result<Self> {
        let (ptr, len) = pair_from_flat(src)?;
        Self::load(cx, ptr, len)
    }

    fn linear_lift_from_memory(
        cx: &mut LiftContext<'_>,
        _ty: InterfaceType,
        bytes: &[u8],
    ) -> wasmtime::Result<Self> {
        let (ptr, len) = pair_from_memory(bytes)?;
        Self::load(cx, ptr, len)
    }
}

/// A guest list, read only when it has at most `MAX` elements.
#[derive(Debug, Clone)]
pub(crate) struct BoundedList<T, const MAX: usize> {
    /// The elements; empty when the list was longer than `MAX`.
    pub(crate) items: Vec<T>,
    /// How many elements the guest returned.
    pub(crate) len: usize,
}

impl<T: Lift, const MAX: usize> BoundedList<T, MAX> {
    fn load(
        cx: &mut LiftContext<'_>,
        ty: InterfaceType,
        ptr: usize,
        len: usize,
    ) -> wasmtime::Result<Self> {
        if len > MAX {
            return Ok(Self {
                items: Vec::new(),
                len,
            });
        }
        let elem = match ty {
            InterfaceType::List(i) => cx.types[i].element,
            _ => bad_type_info(),
        };
        let size = T::SIZE32;
        if !ptr.is_multiple_of(usize::try_from(T::ALIGN32)?) {
            wasmtime::bail!("list pointer is not aligned");
        }
        let memory = cx.memory();
        let all = len
            .checked_mul(size)
            .and_then(|n| ptr.checked_add(n))
            .and_then(|end| memory.get(ptr..end))
            .ok_or_else(|| wasmtime::format_err!("list pointer/length out of bounds of memory"))?;
        let mut items = Vec::with_capacity(len);
        for element in all.chunks_exact(size.max(1)).take(len) {
            items.push(T::linear_lift_from_memory(cx, elem, element)?);
        }
        Ok(Self { items, len })
    }
}

// SAFETY: represented exactly as `Vec<T>`, whose ABI and type check these delegate to.
unsafe impl<T: ComponentType, const MAX: usize> ComponentType for BoundedList<T, MAX> {
    type Lower = [ValRaw; 2];
    const ABI: CanonicalAbiInfo = <Vec<T> as ComponentType>::ABI;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <Vec<T> as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: reads the pointer/length pair as `Vec<T>` does, then each element from a
// bounds-checked, aligned slice of exactly `T::SIZE32` bytes, as `Vec<T>` does.
unsafe impl<T: Lift, const MAX: usize> Lift for BoundedList<T, MAX> {
    fn linear_lift_from_flat(
        cx: &mut LiftContext<'_>,
        ty: InterfaceType,
        src: &Self::Lower,
    ) -> wasmtime::Result<Self> {
        let (ptr, len) = pair_from_flat(src)?;
        Self::load(cx, ty, ptr, len)
    }

    fn linear_lift_from_memory(
        cx: &mut LiftContext<'_>,
        ty: InterfaceType,
        bytes: &[u8],
    ) -> wasmtime::Result<Self> {
        let (ptr, len) = pair_from_memory(bytes)?;
        Self::load(cx, ty, ptr, len)
    }
}

fn pair_from_flat(src: &[ValRaw; 2]) -> wasmtime::Result<(usize, usize)> {
    Ok((
        usize::try_from(src[0].get_u32())?,
        usize::try_from(src[1].get_u32())?,
    ))
}

fn pair_from_memory(bytes: &[u8]) -> wasmtime::Result<(usize, usize)> {
    let word = |at: usize| -> wasmtime::Result<usize> {
        let raw = bytes
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .ok_or_else(|| wasmtime::format_err!("pointer pair out of bounds"))?;
        Ok(usize::try_from(u32::from_le_bytes(raw))?)
    };
    Ok((word(0)?, word(4)?))
}
