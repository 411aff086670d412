//! Gives back the pages of start-up code once the pipeline runs.
//!
//! When a process touches a page of a file mapping, Linux maps up to
//! 64 KiB of neighbouring pages with it ("fault-around"), so the start-up
//! work (reading the configuration, compiling parsers, building plugins)
//! leaves about 5 MiB of sluice's 8.7 MiB of code and 2 MiB of the shared
//! libraries mapped, while the running pipeline uses a fraction of it.
//! A few seconds after start the process unmaps the pages of the
//! read-only mappings of its binary and of the libraries loaded with it
//! (files mapped later are left alone, see [`release_start_up`]); they
//! stay in the page cache, shared, and what the pipeline runs comes back
//! by minor faults. Together with trimming the heap, idle RSS goes
//! from about 10.7 MiB to 4.8 MiB when the binary was read from disk, and
//! to 4.2-6.3 MiB when it was just written (the page cache then holds it
//! in large folios, and each fault maps more of it).

use std::sync::OnceLock;
use std::time::Duration;

/// A mapped file: its device (`major:minor` as `maps` writes it) and
/// inode.
type FileId<'a> = (&'a str, u64);

/// The files mapped when `main` starts, sorted: the binary and the
/// libraries the dynamic linker loaded for it.
static START_UP_FILES: OnceLock<Vec<(String, u64)>> = OnceLock::new();

/// Notes which files are mapped before sluice does anything; only their
/// pages are given back later (see [`release_start_up`]). Call first
/// thing in `main`.
pub fn note_start_up_files() {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    let mut files: Vec<(String, u64)> = maps
        .lines()
        .filter_map(file_id)
        .map(|(device, inode)| (device.to_owned(), inode))
        .collect();
    files.sort_unstable();
    files.dedup();
    let _ = START_UP_FILES.set(files);
}

/// How long after start the start-up pages are given back.
pub const START_UP: Duration = Duration::from_secs(3);

/// Unmaps this process's pages of the read-only mappings of the binary
/// and of the libraries loaded with it (code, read-only data), keeping
/// them in the page cache: a page the process touches again is mapped
/// back by a minor fault. Called once start-up is over, it leaves
/// resident only the code the running pipeline uses. A mapping that
/// holds private copies (relocated data made read-only after start) is
/// left alone, since unmapping a copy would bring the file's original
/// bytes back.
///
/// Only files mapped before `main` ran are touched: those mappings stay
/// as they are for the life of the process. Other files' mappings may
/// change between reading `smaps` and advising (a library that name
/// resolution loads is mapped, then relocated; a mapping that goes away
/// leaves its addresses free for the heap), and advising a range that
/// became private data would throw that data away.
pub fn release_start_up() {
    release_read_only_pages();
    trim_heap();
}

/// Gives the heap's free pages back to the kernel. glibc only shrinks the
/// top of its heap by itself, so the megabyte of compile buffers and
/// configuration trees that start-up freed would stay resident.
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers; it walks the allocator's own
    // free lists under the allocator's locks.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Unmaps the pages of read-only file mappings that hold no private
/// copies (see [`release_start_up`]).
fn release_read_only_pages() {
    let Some(files) = START_UP_FILES.get() else {
        return;
    };
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    let mut current: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        if let Some(kb) = line.strip_prefix("Anonymous:") {
            let copied = kb.trim().trim_end_matches("kB").trim() != "0";
            if let (Some((start, len)), false) = (current.take(), copied) {
                // SAFETY: the range is one whole read-only mapping of a
                // file, holding no private copies: dropping its pages only
                // makes the next access fault them back in from the page
                // cache, with the same bytes.
                #[allow(unsafe_code)]
                let _ = unsafe {
                    rustix::mm::madvise(
                        start as *mut std::ffi::c_void,
                        len,
                        rustix::mm::Advice::LinuxDontNeed,
                    )
                };
            }
        } else if is_mapping_header(line) {
            current = read_only_mapping_of(line, files);
        }
    }
}

/// Is this `smaps` line the header of a mapping (`start-end perms ...`)
/// rather than one of its `Key: value` lines?
fn is_mapping_header(line: &str) -> bool {
    line.split_ascii_whitespace()
        .next()
        .is_some_and(|f| f.contains('-') && !f.ends_with(':'))
}

/// The file a `/proc/self/maps` line maps, if it maps one.
fn file_id(line: &str) -> Option<FileId<'_>> {
    let mut fields = line.split_ascii_whitespace().skip(3);
    let device = fields.next()?;
    let inode = fields.next()?.parse::<u64>().ok()?;
    let path = fields.next()?;
    (inode != 0 && path.starts_with('/')).then_some((device, inode))
}

/// The start and length of a `/proc/self/maps` line's mapping when it maps
/// one of `files` (sorted) and cannot be written.
fn read_only_mapping_of(line: &str, files: &[(String, u64)]) -> Option<(usize, usize)> {
    let (device, inode) = file_id(line)?;
    let mut fields = line.split_ascii_whitespace();
    let range = fields.next()?;
    let perms = fields.next()?;
    let known = files
        .binary_search_by(|(d, i)| (d.as_str(), *i).cmp(&(device, inode)))
        .is_ok();
    if !known || perms.as_bytes().get(1) != Some(&b'-') {
        return None;
    }
    let (start, end) = range.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    Some((start, end.checked_sub(start)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_read_only_mappings_of_start_up_files_are_advised() {
        let files = [("08:01".to_owned(), 99), ("08:01".to_owned(), 1234)];
        let code = "55d0c0a00000-55d0c0e00000 r-xp 00200000 08:01 1234 /usr/bin/sluice";
        assert_eq!(
            read_only_mapping_of(code, &files),
            Some((0x55d0c0a00000, 0x400000))
        );
        let replaced = "55d0c0a00000-55d0c0e00000 r--p 0 08:01 1234 /usr/bin/sluice (deleted)";
        assert!(read_only_mapping_of(replaced, &files).is_some());
        let libc = "7f0000000000-7f0000100000 r-xp 00000000 08:01 99 /usr/lib/libc.so.6";
        assert!(read_only_mapping_of(libc, &files).is_some());
        let later = "7f0000200000-7f0000300000 r--p 00000000 08:01 77 /usr/lib/libnss_dns.so.2";
        assert_eq!(read_only_mapping_of(later, &files), None);
        let other_disk = "7f0000400000-7f0000500000 r--p 00000000 00:2a 99 /dev/shm/data";
        assert_eq!(read_only_mapping_of(other_disk, &files), None);
        let data = "55d0c1000000-55d0c1001000 rw-p 00400000 08:01 1234 /usr/bin/sluice";
        assert_eq!(read_only_mapping_of(data, &files), None);
        let heap = "55d0c2000000-55d0c2100000 rw-p 00000000 00:00 0 [heap]";
        assert_eq!(file_id(heap), None);
        let anon = "7f0000000000-7f0000001000 r--p 00000000 00:00 0";
        assert_eq!(file_id(anon), None);
    }
}
