package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"hemopa/auth"
)

func init() {
	register("keygen", "write a signing key and its public JWKS", runKeygen)
}

// runKeygen makes RS384 and/or ES384 keys for SMART Backend Services client
// authentication: each private key goes to DIR/<kid>.pem (mode 0600) and the
// public keys are added to a JWKS, keeping the keys already there so that
// old and new keys can be published together during a rotation.
func runKeygen(_ context.Context, args []string, env *Env) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	alg := fs.String("alg", "both", "key algorithm: RS384 (RSA-3072), ES384 (P-384) or both")
	out := fs.String("out", "", "directory for the private keys <kid>.pem (created with mode 0700 if missing; required)")
	jwks := fs.String("jwks", "", "existing public JWKS file to add the new keys to (default: DIR/jwks.json, created if missing)")
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "usage: hemopa keygen --out DIR [--alg RS384|ES384|both] [--jwks FILE]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &exitError{code: 2}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	var algs []string
	switch strings.ToUpper(*alg) {
	case "BOTH":
		algs = []string{auth.RS384, auth.ES384}
	case auth.RS384, auth.ES384:
		algs = []string{strings.ToUpper(*alg)}
	default:
		return usagef("--alg %q is not RS384, ES384 or both", *alg)
	}
	if *out == "" {
		return usagef("--out DIR is required")
	}
	jwksPath := *jwks
	if jwksPath == "" {
		jwksPath = filepath.Join(*out, "jwks.json")
	} else if _, err := os.Stat(jwksPath); err != nil {
		return usagef("--jwks %s: %v (omit --jwks to start a new JWKS in --out)", jwksPath, errors.Unwrap(err))
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return fmt.Errorf("create key directory: %w", err)
	}

	pubs := make([]auth.PublicKey, 0, len(algs))
	for _, a := range algs {
		key, err := auth.GenerateKey(a)
		if err != nil {
			return err
		}
		path := filepath.Join(*out, key.KID+".pem")
		if err := key.WritePEM(path); err != nil {
			return err
		}
		pubs = append(pubs, key.Public())
		fmt.Fprintf(env.Stdout, "%s key kid=%s private=%s\n", key.Alg, key.KID, path)
	}
	if err := auth.AppendJWKS(jwksPath, pubs...); err != nil {
		return err
	}
	set, err := auth.ReadJWKS(jwksPath)
	if err != nil {
		return err
	}
	kids := make([]string, len(set.Keys))
	for i, k := range set.Keys {
		kids[i] = k.Kid
	}
	fmt.Fprintf(env.Stdout, "public JWKS %s now holds %d key(s): %s\n", jwksPath, len(set.Keys), strings.Join(kids, ", "))
	fmt.Fprintln(env.Stdout, "Register the JWKS (or the URL it is served at) with the EHR; keep the .pem files private.")
	return nil
}
