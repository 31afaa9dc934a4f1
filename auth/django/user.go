package django

import "strconv"

// User is a Django auth_user row: an auth.User whose ID is the primary key in decimal.
type User struct {
	pk                       int64
	username                 string
	password                 string // the password hash, for the session auth hash
	active, staff, superuser bool
	hash                     string // SessionHash, set by LoadUser
}

// ID returns the primary key in decimal, as Django stores it in the session.
func (u *User) ID() string { return strconv.FormatInt(u.pk, 10) }

// PK returns the primary key.
func (u *User) PK() int64 { return u.pk }

// Username returns username.
func (u *User) Username() string { return u.username }

// IsAuthenticated returns true.
func (u *User) IsAuthenticated() bool { return true }

// IsActive returns is_active (always true for a user Authenticate or LoadUser returned).
func (u *User) IsActive() bool { return u.active }

// IsStaff returns is_staff.
func (u *User) IsStaff() bool { return u.staff }

// IsSuperuser returns is_superuser.
func (u *User) IsSuperuser() bool { return u.superuser }

// SessionHash returns Django's session auth hash of the user (for auth.SessionHasher): the
// value Django stores as _auth_user_hash when the user logs in.
func (u *User) SessionHash() string { return u.hash }

// String returns the username, never the password hash.
func (u *User) String() string { return u.username }
