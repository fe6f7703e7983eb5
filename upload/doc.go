// Package upload implements XEP-0363: HTTP File Upload
// (urn:xmpp:http:upload:0; the discovery, slot, error and upload rules of
// §3–§7, current XEP version 1.2.0) as an in-process service at its own
// domain (upload.example.org, router.Service).
//
// A client asks the service for a slot (<request filename size
// content-type/>); the service answers a PUT URL and a GET URL on the
// server's HTTPS listener. The file name loses its format characters
// (bidi controls and other invisible ones, but the joiners U+200C and
// U+200D), so that neither the URLs nor the Content-Disposition show it
// reordered; names with other control characters or slashes are refused. The PUT URL carries its own authorization: an
// HMAC-SHA256, keyed from the server secret, over the slot's id, file
// name, size, content type, owner and expiry (60 s, as §7 recommends:
// the upload must start by then), so slots need no storage. The PUT must send exactly the announced size and content type;
// the body is streamed to disk (never held in memory), fsynced, and only
// then answered 201 Created. GET and HEAD serve the file with its content
// type, Content-Length, Content-Disposition, X-Content-Type-Options:
// nosniff and range requests (media seeking); CORS lets browser clients
// PUT and GET from other origins.
//
// Limits: Config.MaxFileSize per file (a larger request is refused with
// <file-too-large/> naming the limit; disco#info announces it in a
// XEP-0128 form), Config.Quota for the total size of one account's files
// (resource-constraint), and only accounts of the served domains may
// request slots. Files older than Config.ExpireAfter are deleted by a cron
// job (StartExpiry); DeleteOwner (a running server, for in-band account
// removal) and DeleteWhere (dormouse user del) remove an account's files.
//
// Files are kept by a Store: DiskStore keeps each file with a small JSON
// record of its owner, name, type, size and time under a directory. The
// interface is small on purpose: an S3-compatible object store can
// implement it (Put streams the body, Open returns an io.ReadSeeker for
// ranges, List feeds quota accounting and expiry).
//
// Not implemented: the optional <header/> elements of slots and <retry/>
// in quota errors, and a daily upload quota.
package upload
