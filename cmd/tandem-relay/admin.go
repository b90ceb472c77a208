package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-rc/tandem/relay"
)

func newAdminCmd() *cobra.Command {
	var data, db string
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Administer the relay's database (accounts, users, packages, devices, permission checks)",
	}
	cmd.PersistentFlags().StringVar(&data, "data", "./var/relay", "data directory (keys, database)")
	cmd.PersistentFlags().StringVar(&db, "db", "", dbUsage)
	// open gives subcommands an Admin on the database.
	open := func(cmd *cobra.Command) (*relay.Admin, error) {
		return relay.OpenAdminDB(cmd.Context(), data, db)
	}
	pkg := &cobra.Command{Use: "package", Short: "Deployment packages (enrollment keys)"}
	pkg.AddCommand(newPackageCreateCmd(open), newPackageListCmd(open))
	dev := &cobra.Command{Use: "device", Short: "Devices"}
	dev.AddCommand(newDeviceListCmd(open), newDeviceStateCmd(open, "enroll"), newDeviceStateCmd(open, "revoke"))
	cmd.AddCommand(newInitCmd(open), pkg, dev, newAccountCmd(open), newUserCmd(open), newCheckCmd(open))
	cmd.AddCommand(newRotateKeyCmd(&data, &db))
	return cmd
}

type opener func(*cobra.Command) (*relay.Admin, error)

func newInitCmd(open opener) *cobra.Command {
	var owner, password, account string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the first account and its owner (idempotent)",
		Long: `Create the account and its owner if they do not exist yet. Running it
again with the same email changes nothing.

The password needs at least 8 characters with an upper-case letter, a
lower-case letter and a digit. It may also come from the environment
variable TANDEM_OWNER_PASSWORD instead of --password.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if password == "" {
				password = os.Getenv("TANDEM_OWNER_PASSWORD")
			}
			if owner == "" || password == "" {
				return fmt.Errorf("--owner and --password are required")
			}
			a, err := open(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			res, err := a.Init(cmd.Context(), owner, password, account)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !res.UserCreated {
				fmt.Fprintf(out, "owner %s already exists (user %s); nothing changed\n", res.User.Email, res.User.ID)
				return nil
			}
			if res.AccountCreated {
				fmt.Fprintf(out, "created account %q (%s)\n", res.Account.Name, res.Account.ID)
			} else {
				fmt.Fprintf(out, "account %q (%s) already exists\n", res.Account.Name, res.Account.ID)
			}
			fmt.Fprintf(out, "created owner %s (%s)\n", res.User.Email, res.User.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&owner, "owner", "", "owner's email address")
	cmd.Flags().StringVar(&password, "password", "", "owner's password")
	cmd.Flags().StringVar(&account, "account", relay.DefaultAccountName, "account name")
	return cmd
}

func parseDate(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--%s %q: use YYYY-MM-DD or RFC 3339 (UTC)", flag, v)
}

func newPackageCreateCmd(open opener) *cobra.Command {
	var spec relay.PackageSpec
	var from, to, publicURL string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a deployment package; prints its enrollment key last",
		Long: `Create a deployment package. Its enrollment key is printed as the last
line and is not stored anywhere in clear: keep it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if spec.ValidFrom, err = parseDate("valid-from", from); err != nil {
				return err
			}
			if spec.ValidTo, err = parseDate("valid-to", to); err != nil {
				return err
			}
			a, err := open(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			p, key, err := a.CreatePackage(cmd.Context(), spec)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "created package %q (%s), new devices %s\n", p.Name, p.ID, p.EnrollmentState)
			if publicURL != "" {
				fmt.Fprintf(out, "install page (share it; it carries the key): %s/d/%s\n", strings.TrimRight(publicURL, "/"), key)
			}
			fmt.Fprintln(out, "enrollment key (shown once):")
			fmt.Fprintln(out, key)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.Name, "name", "", "package name (required)")
	f.StringVar(&spec.Account, "account", "", "account id or name (default: the only account)")
	f.StringVar(&spec.Description, "description", "", "description")
	f.BoolVar(&spec.Pending, "pending", false, "new devices wait for approval (device enroll ID)")
	f.IntVar(&spec.MaxDevices, "max-devices", 0, "how many devices may enroll (0: unlimited)")
	f.StringVar(&from, "valid-from", "", "first day the key works (UTC, YYYY-MM-DD)")
	f.StringVar(&to, "valid-to", "", "the key stops working at this time (UTC, YYYY-MM-DD)")
	f.StringVar(&publicURL, "public-url", "", "the relay's public URL, to print the package's install page link")
	cmd.MarkFlagRequired("name")
	return cmd
}

func newPackageListCmd(open opener) *cobra.Command {
	var account string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List deployment packages",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := open(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			ps, err := a.Packages(cmd.Context(), account)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tNEW DEVICES\tACTIVE\tDEVICES\tVALID FROM\tVALID TO")
			for _, p := range ps {
				max := "∞"
				if p.MaxDevices > 0 {
					max = fmt.Sprint(p.MaxDevices)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%d/%s\t%s\t%s\n", p.ID, p.Name, p.EnrollmentState, p.Active,
					p.Devices, max, day(p.ValidFrom), day(p.ValidTo))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&account, "account", "", "account id or name (default: all)")
	return cmd
}

func day(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func newDeviceListCmd(open opener) *cobra.Command {
	var account string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List devices",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := open(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			ds, err := a.Devices(cmd.Context(), account)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tHOSTNAME\tSTATE\tOS\tLAST SEEN (UTC)")
			for _, d := range ds {
				seen := "never"
				if !d.LastSeen.IsZero() {
					seen = d.LastSeen.UTC().Format("2006-01-02 15:04:05")
				}
				host := d.Hostname
				if host == "" {
					host = "-"
				}
				os := d.OS
				if os == "" {
					os = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.ID, host, d.State, os, seen)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&account, "account", "", "account id or name (default: all)")
	return cmd
}

func newDeviceStateCmd(open opener, verb string) *cobra.Command {
	short := map[string]string{
		"enroll": "Approve a pending device",
		"revoke": "Revoke a device: it can no longer connect",
	}[verb]
	return &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := open(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			id := strings.TrimSpace(args[0])
			f := a.EnrollDevice
			if verb == "revoke" {
				f = a.RevokeDevice
			}
			d, changed, err := f(cmd.Context(), id)
			if err != nil {
				return err
			}
			if changed {
				fmt.Fprintf(cmd.OutOrStdout(), "device %s (%s) is now %s\n", d.ID, d.Hostname, d.State)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "device %s (%s) was already %s\n", d.ID, d.Hostname, d.State)
			}
			return nil
		},
	}
}
