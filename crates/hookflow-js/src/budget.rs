//! The memory budget of a run: an allocator for QuickJS that counts what the engine holds and,
//! while a run has a limit, refuses what would go past it.

use std::cell::Cell;
use std::ptr;
use std::rc::Rc;

use rquickjs::allocator::{Allocator, RustAllocator};

/// What an engine holds, and what it may hold while a run is limited.
#[derive(Debug)]
pub struct Budget {
    used: Cell<usize>,
    cap: Cell<usize>,
    refused: Cell<bool>,
}

impl Budget {
    pub fn new() -> Rc<Budget> {
        Rc::new(Budget {
            used: Cell::new(0),
            cap: Cell::new(usize::MAX),
            refused: Cell::new(false),
        })
    }

    /// From now on, at most `bytes` more than the engine holds now.
    pub fn limit(&self, bytes: usize) {
        self.cap.set(self.used.get().saturating_add(bytes));
        self.refused.set(false);
    }

    /// Lifts the limit; answers whether an allocation was refused under it.
    pub fn lift(&self) -> bool {
        self.cap.set(usize::MAX);
        self.refused.replace(false)
    }

    fn admit(&self, more: usize) -> bool {
        let ok = self.used.get().saturating_add(more) <= self.cap.get();
        if !ok {
            self.refused.set(true);
        }
        ok
    }
}

/// [`RustAllocator`], counted against a [`Budget`].
pub struct Counting {
    pub budget: Rc<Budget>,
}

// SAFETY: every pointer comes from `RustAllocator` and goes back to it unchanged; the counting
// only reads `usable_size` of pointers that allocator returned.
#[allow(unsafe_code)]
unsafe impl Allocator for Counting {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        if !self.budget.admit(size) {
            return ptr::null_mut();
        }
        let p = RustAllocator.alloc(size);
        if !p.is_null() {
            // SAFETY: `p` was just returned by `RustAllocator`.
            self.budget.used.set(self.budget.used.get() + unsafe { RustAllocator::usable_size(p) });
        }
        p
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        let Some(total) = count.checked_mul(size) else { return ptr::null_mut() };
        if !self.budget.admit(total) {
            return ptr::null_mut();
        }
        let p = RustAllocator.calloc(count, size);
        if !p.is_null() {
            // SAFETY: `p` was just returned by `RustAllocator`.
            self.budget.used.set(self.budget.used.get() + unsafe { RustAllocator::usable_size(p) });
        }
        p
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8) {
        // SAFETY: the caller passes a pointer this allocator returned.
        let size = unsafe { RustAllocator::usable_size(ptr) };
        self.budget.used.set(self.budget.used.get().saturating_sub(size));
        // SAFETY: as above.
        unsafe { RustAllocator.dealloc(ptr) }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        if ptr.is_null() {
            return self.alloc(new_size);
        }
        // SAFETY: the caller passes a pointer this allocator returned.
        let old = unsafe { RustAllocator::usable_size(ptr) };
        if new_size > old && !self.budget.admit(new_size - old) {
            return ptr::null_mut();
        }
        // SAFETY: as above; a failed reallocation leaves `ptr` as it was.
        let p = unsafe { RustAllocator.realloc(ptr, new_size) };
        if !p.is_null() {
            // SAFETY: `p` was just returned by `RustAllocator`.
            let new = unsafe { RustAllocator::usable_size(p) };
            self.budget.used.set(self.budget.used.get().saturating_sub(old) + new);
        }
        p
    }

    unsafe fn usable_size(ptr: *mut u8) -> usize {
        // SAFETY: the caller passes a pointer this allocator returned.
        unsafe { RustAllocator::usable_size(ptr) }
    }
}
