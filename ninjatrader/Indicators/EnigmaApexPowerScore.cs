// Enigma-Apex indicator for NinjaTrader 8: shows on the chart the latest signal for the chart's instrument, its
// analysis score and the hub's decision, and the account's distance to its drawdown threshold. It connects to the
// hub as a read-only observer (a token with the observer role) and subscribes to decisions and risk updates.
#region Using declarations
using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.Globalization;
using System.IO;
using System.Xml.Serialization;
using EnigmaApex.Protocol;
using NinjaTrader.NinjaScript.DrawingTools;
#endregion

namespace NinjaTrader.NinjaScript.Indicators
{
    public class EnigmaApexPowerScore : Indicator
    {
        HubConnection connection;
        readonly object gate = new object();
        string decisionText = "Enigma-Apex: waiting for a signal";
        string riskText = "";

        public string HubUrl { get; set; }
        /// <summary>An observer token. Never saved in workspaces ([XmlIgnore]): once entered it is kept, encrypted
        /// for this Windows user, in Documents\NinjaTrader 8\EnigmaApex\observer.json.</summary>
        [XmlIgnore]
        [PasswordPropertyText(true)]
        public string Token { get; set; }
        public string AccountName { get; set; }

        protected override void OnStateChange()
        {
            if (State == State.SetDefaults)
            {
                Name = "EnigmaApexPowerScore";
                Description = "The latest Enigma-Apex signal, score and decision, and the distance to the threshold.";
                IsOverlay = true;
                Calculate = Calculate.OnPriceChange;
                HubUrl = "ws://127.0.0.1:8765";
                Token = "";
                AccountName = "";
            }
            else if (State == State.DataLoaded)
            {
                string path = Path.Combine(Path.Combine(NinjaTrader.Core.Globals.UserDataDir, "EnigmaApex"), "observer.json");
                var saved = ClientSettings.Load(path);
                string token = string.IsNullOrEmpty(Token) ? saved.Token : Token;
                if (!string.IsNullOrEmpty(Token) && Token != saved.Token)
                {
                    saved.Token = Token;
                    saved.Save(path);
                }
                Token = "";
                if (string.IsNullOrEmpty(token)) token = Environment.GetEnvironmentVariable("ENIGMA_APEX_OBSERVER_TOKEN") ?? "";
                if (string.IsNullOrEmpty(token)) { decisionText = "Enigma-Apex: set an observer token"; return; }
                connection = new HubConnection(HubUrl, token, "NinjaTrader indicator", null) { OnOther = OnFrame };
                connection.Status = text => { if (text == "connected") Subscribe(); };
                connection.Start();
            }
            else if (State == State.Terminated)
            {
                if (connection != null) connection.Dispose();
                connection = null;
            }
        }

        void Subscribe()
        {
            var subscribe = ExecutorSession.Envelope("subscribe");
            subscribe["topics"] = new List<object> { "decisions", "risk" };
            connection.Enqueue(Json.Write(subscribe));
        }

        void OnFrame(string frame)
        {
            Dictionary<string, object> message;
            try { message = Json.ParseObject(frame); }
            catch (FormatException) { return; }
            string type = Json.Str(message, "type");
            string account = Json.Str(message, "account");
            if (!string.IsNullOrEmpty(AccountName) && account != null && account != AccountName) return;
            if (type == "decision")
            {
                string symbol = Json.Str(message, "symbol") ?? "";
                string root = Instrument != null && Instrument.MasterInstrument != null ? Instrument.MasterInstrument.Name : "";
                if (root.Length > 0 && !symbol.StartsWith(root, StringComparison.Ordinal)) return;
                decimal? score = Json.Dec(message, "score");
                lock (gate)
                    decisionText = string.Format(CultureInfo.InvariantCulture, "{0} {1}: {2} x{3}  score {4}  {5}",
                        account, symbol, Json.Str(message, "action"), Json.Str(message, "quantity"),
                        score.HasValue ? score.Value.ToString(CultureInfo.InvariantCulture) : "-", Json.Str(message, "reason"));
            }
            else if (type == "risk.update")
            {
                lock (gate)
                    riskText = string.Format(CultureInfo.InvariantCulture, "{0} {1}: {2} to threshold {3} ({4}% used), {5} contracts allowed",
                        account, Json.Str(message, "state"), Json.Str(message, "distance"), Json.Str(message, "threshold"),
                        Json.Str(message, "drawdown_used_pct"), Json.Str(message, "contracts_allowed"));
            }
            else return;
            TriggerCustomEvent(_ => Draw.TextFixed(this, "EnigmaApex", Text(), TextPosition.TopRight), null);
        }

        string Text()
        {
            lock (gate) return decisionText + (riskText.Length > 0 ? Environment.NewLine + riskText : "");
        }

        protected override void OnBarUpdate()
        {
            Draw.TextFixed(this, "EnigmaApex", Text(), TextPosition.TopRight);
        }
    }
}
