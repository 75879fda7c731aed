use std::io::Write;
fn gnu() -> tar::Header { tar::Header::new_gnu() }
fn main() {
    let out = std::io::stdout();
    let mut b = tar::Builder::new(out.lock());
    // root dir
    let mut h = gnu(); h.set_entry_type(tar::EntryType::Directory); h.set_size(0); h.set_uid(0); h.set_gid(0); h.set_mode(0o755);
    b.append_data(&mut h, "./", std::io::empty()).unwrap();
    let mut h = gnu(); h.set_entry_type(tar::EntryType::Directory); h.set_size(0); h.set_uid(12); h.set_gid(34); h.set_mode(0o1777);
    b.append_data(&mut h, "./usr/etc", std::io::empty()).unwrap();
    // metadata object with a long name
    let p = "sysroot/ostree/repo/objects/ab/cdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab.dirtree";
    let mut h = gnu(); h.set_entry_type(tar::EntryType::Regular); h.set_uid(0); h.set_gid(0); h.set_mode(0o644); h.set_size(5);
    b.append_data(&mut h, p, &b"hello"[..]).unwrap();
    // pax with binary value
    let v: Vec<u8> = vec![0, 255, 10, 61];
    b.append_pax_extensions(vec![("SCHILY.xattr.user.a", &v[..]), ("SCHILY.xattr.user.bb", &b"x"[..])]).unwrap();
    // regular file object + hardlinks (short and long dests)
    let op = "sysroot/ostree/repo/objects/ab/cdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab.file";
    let mut h = gnu(); h.set_uid(3000000); h.set_gid(5); h.set_mode(0o4755); h.set_entry_type(tar::EntryType::Regular); h.set_size(3);
    b.append_data(&mut h, op, &b"abc"[..]).unwrap();
    for dest in ["usr/bin/x", "usr/share/dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd/file", "etc/é"] {
        let mut h2 = h.clone(); h2.set_size(0); h2.set_entry_type(tar::EntryType::Link); h2.set_link_name(op).unwrap();
        b.append_data(&mut h2, dest, std::io::empty()).unwrap();
    }
    // symlink object with long target, and its hardlink
    let sp = "sysroot/ostree/repo/objects/01/cdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab.file";
    let target = format!("../../{}", "x".repeat(120));
    let mut h = gnu(); h.set_uid(0); h.set_gid(0); h.set_mode(0o777); h.set_entry_type(tar::EntryType::Symlink); h.set_size(0);
    b.append_link(&mut h, sp, &target).unwrap();
    let mut h2 = h.clone(); h2.set_size(0); h2.set_entry_type(tar::EntryType::Link); h2.set_link_name(sp).unwrap();
    b.append_data(&mut h2, "usr/lib/l", std::io::empty()).unwrap();
    // short symlink, literal
    let mut h = gnu(); h.set_uid(0); h.set_gid(0); h.set_mode(0o777); h.set_entry_type(tar::EntryType::Symlink); h.set_size(0);
    h.set_link_name_literal("../a//b").unwrap();
    b.append_data(&mut h, sp, std::io::empty()).unwrap();
    // empty regular file: regular entry with residue
    let mut h = gnu(); h.set_uid(0); h.set_gid(0); h.set_mode(0o644); h.set_entry_type(tar::EntryType::Regular); h.set_size(0);
    b.append_data(&mut h, op, std::io::empty()).unwrap();
    let mut h2 = h.clone(); h2.set_size(0);
    b.append_data(&mut h2, "usr/share/empty", std::io::empty()).unwrap();
    b.finish().unwrap();
    std::io::stdout().flush().unwrap();
}
