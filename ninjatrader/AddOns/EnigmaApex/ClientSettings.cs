// Enigma-Apex protocol client: the AddOn's settings file (hub URL, token, accounts, ATM template,
// flatten-after-disconnect), kept under the user's NinjaTrader documents folder, never in a workspace. The token is
// stored encrypted for the Windows user (DPAPI, reached by reflection so the NinjaScript compile needs no extra
// reference); where DPAPI is missing it is stored as text in this file only. No NinjaTrader types.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Reflection;
using System.Text;

namespace EnigmaApex.Protocol
{
    public sealed class ClientSettings
    {
        public string HubUrl = "ws://127.0.0.1:8765";
        public string Token = "";
        /// <summary>Comma-separated NinjaTrader account names; empty = every account the hub gives this token.</summary>
        public string Accounts = "";
        public string AtmTemplate = "";
        public double FlattenAfterDisconnectSeconds = 0;

        public ClientSettings Copy() { return (ClientSettings)MemberwiseClone(); }

        /// <summary>What is wrong with these settings, or null.</summary>
        public string Problem()
        {
            Uri uri;
            if (!Uri.TryCreate(HubUrl ?? "", UriKind.Absolute, out uri) || (uri.Scheme != "ws" && uri.Scheme != "wss"))
                return "the hub URL must be ws://host:port or wss://host:port";
            if (string.IsNullOrEmpty(Token) || Token.Length < 8) return "an executor token is needed (enigma-apex token create --role executor)";
            if (FlattenAfterDisconnectSeconds < 0 || FlattenAfterDisconnectSeconds > 86400)
                return "flatten after disconnect must be 0 (never) to 86400 seconds";
            return null;
        }

        public HashSet<string> AccountSet()
        {
            var set = new HashSet<string>();
            foreach (var part in (Accounts ?? "").Split(','))
                if (part.Trim().Length > 0) set.Add(part.Trim());
            return set;
        }

        public static ClientSettings Load(string path)
        {
            var settings = new ClientSettings();
            if (!File.Exists(path)) return settings;
            var data = Json.ParseObject(File.ReadAllText(path, Encoding.UTF8));
            settings.HubUrl = Json.Str(data, "hub_url") ?? settings.HubUrl;
            settings.Accounts = Json.Str(data, "accounts") ?? "";
            settings.AtmTemplate = Json.Str(data, "atm_template") ?? "";
            settings.FlattenAfterDisconnectSeconds = (double)(Json.Dec(data, "flatten_after_disconnect_s") ?? 0m);
            string stored = Json.Str(data, "token") ?? "";
            settings.Token = stored.StartsWith("dpapi:", StringComparison.Ordinal) ? Unprotect(stored.Substring(6)) : stored;
            return settings;
        }

        public void Save(string path)
        {
            string protectedToken = Protect(Token ?? "");
            var data = new Dictionary<string, object>
            {
                { "hub_url", HubUrl ?? "" },
                { "token", protectedToken != null ? "dpapi:" + protectedToken : Token ?? "" },
                { "accounts", Accounts ?? "" },
                { "atm_template", AtmTemplate ?? "" },
                { "flatten_after_disconnect_s", (decimal)FlattenAfterDisconnectSeconds },
            };
            Directory.CreateDirectory(Path.GetDirectoryName(path));
            string temp = path + ".tmp";
            File.WriteAllText(temp, Json.Write(data), Encoding.UTF8);
            if (File.Exists(path)) File.Delete(path);
            File.Move(temp, path);
        }

        /// <summary>The token as shown in logs and windows: never in clear.</summary>
        public static string Masked(string token)
        {
            if (string.IsNullOrEmpty(token)) return "(none)";
            return "…" + token.Substring(Math.Max(0, token.Length - 4)) + " (" + token.Length.ToString(CultureInfo.InvariantCulture) + " characters)";
        }

        static readonly Type dpapi = Type.GetType(
            "System.Security.Cryptography.ProtectedData, System.Security, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b03f5f7f11d50a3a", false);
        static readonly Type scope = Type.GetType(
            "System.Security.Cryptography.DataProtectionScope, System.Security, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b03f5f7f11d50a3a", false);

        static string Protect(string token)
        {
            if (dpapi == null || scope == null || token.Length == 0) return null;
            try
            {
                var method = dpapi.GetMethod("Protect", BindingFlags.Public | BindingFlags.Static);
                var bytes = (byte[])method.Invoke(null, new object[] { Encoding.UTF8.GetBytes(token), null, Enum.Parse(scope, "CurrentUser") });
                return Convert.ToBase64String(bytes);
            }
            catch (Exception) { return null; }
        }

        static string Unprotect(string stored)
        {
            if (dpapi == null || scope == null) return "";
            try
            {
                var method = dpapi.GetMethod("Unprotect", BindingFlags.Public | BindingFlags.Static);
                var bytes = (byte[])method.Invoke(null, new object[] { Convert.FromBase64String(stored), null, Enum.Parse(scope, "CurrentUser") });
                return Encoding.UTF8.GetString(bytes);
            }
            catch (Exception) { return ""; }  // another Windows user's file: the token must be entered again
        }
    }
}
