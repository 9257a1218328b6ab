// Faithful fake, part three: NinjaScript objects (AddOnBase, Indicator, Strategy with the managed approach,
// AtmStrategy, Draw). Cited as in NinjaTrader.Cbi.cs (HG <page>, RL <type>). Behaviour imitated:
// - inheritance as in the real assemblies: Indicator : IndicatorRenderBase : IndicatorBase : NinjaScriptBase and
//   Strategy : StrategyRenderBase : StrategyBase : NinjaScriptBase (RL);
// - a strategy's code runs on its own thread; TriggerCustomEvent queues work there (HG triggercustomevent); an
//   exception on it disables the strategy, as NinjaTrader does (logged, State.Terminated);
// - managed approach (HG managed_approach, enterlong, exitlong, setstoploss, setprofittarget): an entry against an
//   open opposite position first closes it ("Close position") and then enters: two executions, a reversal;
//   entries beyond EntriesPerDirection (UniqueEntries: per signal name) are ignored; an Exit...() with no position
//   in that direction is ignored; orders not placed live-until-cancelled are cancelled at the end of the bar
//   (HG enterlonglimit, "isLiveUntilCancelled"); SetStopLoss/SetProfitTarget orders ("Stop loss"/"Profit target",
//   one OCO group) follow each entry's filled quantity and are cancelled when its position is closed; signal
//   names are at most 50 characters;
// - Position is the strategy's own position, PositionAccount the account's (HG position, positionaccount).
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using NinjaTrader.Cbi;

namespace NinjaTrader.NinjaScript
{
    // HG onstatechange, understanding_the_lifecycle_of
    public enum State { SetDefaults, Configure, Active, DataLoaded, Historical, Transition, Realtime, Terminated, Finalized }
    public enum Calculate { OnBarClose, OnEachTick, OnPriceChange }
    public enum CalculationMode { Currency, Percent, Pips, Price, Ticks }
    public enum EntryHandling { AllEntries, UniqueEntries }

    public class NinjaScriptPropertyAttribute : Attribute { }

    public abstract class NinjaScriptBase
    {
        public string Name { get; set; }
        public string Description { get; set; }
        public State State { get; private set; }
        public static readonly List<string> Output = new List<string>();  // fake only: the NinjaScript Output window

        // HG print
        public void Print(object value)
        {
            lock (Output) Output.Add(Convert.ToString(value, CultureInfo.InvariantCulture));
            Sim.Log(Convert.ToString(value, CultureInfo.InvariantCulture));
        }

        protected virtual void OnStateChange() { }

        /// <summary>Fake only: NinjaTrader moving the object through its states.</summary>
        public void SetState(State state)
        {
            State = state;
            OnStateChange();
        }
    }

    // HG add_on, developing_add_ons: OnWindowCreated / OnWindowDestroyed for every window NinjaTrader opens
    public abstract class AddOnBase : NinjaScriptBase
    {
        protected virtual void OnWindowCreated(System.Windows.Window window) { }
        protected virtual void OnWindowDestroyed(System.Windows.Window window) { }
        /// <summary>Fake only: NinjaTrader opening and closing a window.</summary>
        public void WindowCreated(System.Windows.Window window) { OnWindowCreated(window); }
        public void WindowDestroyed(System.Windows.Window window) { OnWindowDestroyed(window); }
    }

    // HG atm_strategy_methods / startatmstrategy: the entry order MUST be named "Entry" (HG createorder)
    public static class AtmStrategy
    {
        static readonly Dictionary<string, int[]> templates = new Dictionary<string, int[]>();

        /// <summary>Fake only: an ATM template saved in NinjaTrader (stop and target ticks).</summary>
        public static void DefineTemplate(string name, int stopTicks, int targetTicks) { lock (templates) templates[name] = new[] { stopTicks, targetTicks }; }

        public static void StartAtmStrategy(string atmStrategyTemplateName, Order entryOrder)
        {
            if (entryOrder.Name != "Entry") Sim.Violation("StartAtmStrategy: the entry order must be named \"Entry\" (HG createorder), not " + entryOrder.Name);
            int[] ticks;
            lock (templates)
                if (!templates.TryGetValue(atmStrategyTemplateName, out ticks)) Sim.Violation("no ATM template " + atmStrategyTemplateName);
            string oco = "atm" + entryOrder.Id.ToString(CultureInfo.InvariantCulture);
            entryOrder.OnFill = x =>
            {
                var account = x.Account;
                double tick = x.Instrument.MasterInstrument.TickSize;
                bool longEntry = x.MarketPosition == MarketPosition.Long;
                var exit = longEntry ? OrderAction.Sell : OrderAction.BuyToCover;
                var stop = account.CreateOrder(x.Instrument, exit, OrderType.StopMarket, OrderEntry.Automated, TimeInForce.Gtc, x.Quantity, 0,
                                               x.Price - (longEntry ? 1 : -1) * ticks[0] * tick, oco, "Stop1", Core.Globals.MaxDate, null);
                var target = account.CreateOrder(x.Instrument, exit, OrderType.Limit, OrderEntry.Automated, TimeInForce.Gtc, x.Quantity,
                                                 x.Price + (longEntry ? 1 : -1) * ticks[1] * tick, 0, oco, "Target1", Core.Globals.MaxDate, null);
                account.Submit(new[] { stop, target });
            };
            entryOrder.Account.Submit(new[] { entryOrder });
        }
    }

    /// <summary>The thread a strategy's or indicator's code runs on (fake only).</summary>
    public sealed class ScriptThread
    {
        readonly BlockingCollection<Action> work = new BlockingCollection<Action>();
        public ScriptThread(NinjaScriptBase owner, Action<Exception> failed)
        {
            var thread = new Thread(() =>
            {
                foreach (var action in work.GetConsumingEnumerable())
                {
                    try { action(); }
                    catch (Exception ex) { failed(ex); }
                }
            }) { IsBackground = true, Name = "NinjaScript " + owner.GetType().Name };
            thread.Start();
        }
        public void Post(Action action) { work.Add(action); }
        public void Wait()
        {
            using (var done = new ManualResetEventSlim())
            {
                work.Add(() => done.Set());
                done.Wait(TimeSpan.FromSeconds(10));
            }
        }
    }

    public abstract class IndicatorBase : NinjaScriptBase
    {
        internal readonly ScriptThread Thread;
        public Instrument Instrument { get; set; }
        public Calculate Calculate { get; set; }
        public bool IsOverlay { get; set; }
        public static readonly List<string> Errors = new List<string>();
        protected IndicatorBase() { Thread = new ScriptThread(this, ex => { lock (Errors) Errors.Add(ex.ToString()); SetState(State.Terminated); }); }
        protected virtual void OnBarUpdate() { }
        // HG triggercustomevent
        public void TriggerCustomEvent(Action<object> customEvent, object state) { Thread.Post(() => customEvent(state)); }
        public void Bar() { Thread.Post(OnBarUpdate); }
        public void WaitIdle() { Thread.Wait(); }
    }

    public abstract class IndicatorRenderBase : IndicatorBase { }

    public abstract class StrategyBase : NinjaScriptBase
    {
        internal readonly ScriptThread Thread;
        public static readonly List<string> Errors = new List<string>();
        protected StrategyBase()
        {
            Thread = new ScriptThread(this, ex =>
            {
                lock (Errors) Errors.Add(ex.ToString());
                Print("Strategy '" + Name + "': Error on calling a method: " + ex.Message + " - disabling the strategy");
                SetState(State.Terminated);
            });
        }
        // HG triggercustomevent: runs customEvent on the strategy's thread
        public void TriggerCustomEvent(Action<object> customEvent, object state) { Thread.Post(() => customEvent(state)); }
        public void WaitIdle() { Thread.Wait(); }
    }

    public abstract class StrategyRenderBase : StrategyBase { }

    // HG draw_textfixed
    public enum TextPosition { BottomLeft, BottomRight, Center, TopLeft, TopRight }
}

namespace NinjaTrader.NinjaScript.DrawingTools
{
    public class TextFixed
    {
        public string Tag { get; internal set; }
        public string DisplayText { get; internal set; }
    }

    public static class Draw
    {
        public static readonly Dictionary<string, string> Drawn = new Dictionary<string, string>();  // fake only
        public static TextFixed TextFixed(NinjaScriptBase owner, string tag, string text, TextPosition textPosition)
        {
            lock (Drawn) Drawn[tag] = text;
            return new TextFixed { Tag = tag, DisplayText = text };
        }
    }
}

namespace NinjaTrader.NinjaScript.Indicators
{
    public abstract class Indicator : IndicatorRenderBase { }
}

namespace NinjaTrader.NinjaScript.Strategies
{
    public abstract class Strategy : StrategyRenderBase
    {
        sealed class Managed
        {
            public Order Order;
            public string Signal, FromEntry;
            public bool Entry, Live, Protective;
        }

        readonly List<Managed> managed = new List<Managed>();
        readonly Dictionary<string, int> openBySignal = new Dictionary<string, int>();
        readonly Dictionary<string, double> stops = new Dictionary<string, double>(), targets = new Dictionary<string, double>();
        readonly Position own = new Position();
        int ocoCount;

        public Account Account { get; set; }
        public Instrument Instrument { get; set; }
        public Calculate Calculate { get; set; }
        public int EntriesPerDirection { get; set; }
        public EntryHandling EntryHandling { get; set; }
        public bool IsExitOnSessionCloseStrategy { get; set; }
        public int BarsRequiredToTrade { get; set; }
        // HG timeinforce: the time in force of every order the strategy submits (default Gtc)
        public TimeInForce TimeInForce { get; set; }

        protected Strategy() { EntriesPerDirection = 1; TimeInForce = TimeInForce.Gtc; }

        // HG position: the strategy's own position
        public Position Position { get { own.Account = Account; own.Instrument = Instrument; return own; } }

        // HG positionaccount: the account's position in the strategy's instrument (manual trades included)
        public Position PositionAccount
        {
            get
            {
                lock (Account.Positions)
                    return Account.Positions.FirstOrDefault(p => p.Instrument == Instrument)
                        ?? new Position { Account = Account, Instrument = Instrument, MarketPosition = MarketPosition.Flat };
            }
        }

        protected virtual void OnBarUpdate() { }
        protected virtual void OnOrderUpdate(Order order, double limitPrice, double stopPrice, int quantity, int filled, double averageFillPrice,
                                             OrderState orderState, DateTime time, ErrorCode error, string comment) { }
        protected virtual void OnExecutionUpdate(Execution execution, string executionId, double price, int quantity,
                                                 MarketPosition marketPosition, string orderId, DateTime time) { }
        protected virtual void OnPositionUpdate(Position position, double averagePrice, int quantity, MarketPosition marketPosition) { }

        int Signed { get { return own.MarketPosition == MarketPosition.Long ? own.Quantity : own.MarketPosition == MarketPosition.Short ? -own.Quantity : 0; } }

        // ------------------------------------------------------------------ HG enterlong and its variants
        public Order EnterLong(int quantity, string signalName) { return Enter(true, quantity, OrderType.Market, 0, 0, true, signalName); }
        public Order EnterShort(int quantity, string signalName) { return Enter(false, quantity, OrderType.Market, 0, 0, true, signalName); }
        public Order EnterLongLimit(int quantity, double limitPrice, string signalName) { return Enter(true, quantity, OrderType.Limit, limitPrice, 0, false, signalName); }
        public Order EnterShortLimit(int quantity, double limitPrice, string signalName) { return Enter(false, quantity, OrderType.Limit, limitPrice, 0, false, signalName); }
        public Order EnterLongStopMarket(int quantity, double stopPrice, string signalName) { return Enter(true, quantity, OrderType.StopMarket, 0, stopPrice, false, signalName); }
        public Order EnterShortStopMarket(int quantity, double stopPrice, string signalName) { return Enter(false, quantity, OrderType.StopMarket, 0, stopPrice, false, signalName); }
        public Order EnterLongLimit(int barsInProgressIndex, bool isLiveUntilCancelled, int quantity, double limitPrice, string signalName)
        { return Enter(true, quantity, OrderType.Limit, limitPrice, 0, isLiveUntilCancelled, signalName); }
        public Order EnterShortLimit(int barsInProgressIndex, bool isLiveUntilCancelled, int quantity, double limitPrice, string signalName)
        { return Enter(false, quantity, OrderType.Limit, limitPrice, 0, isLiveUntilCancelled, signalName); }
        public Order EnterLongStopMarket(int barsInProgressIndex, bool isLiveUntilCancelled, int quantity, double stopPrice, string signalName)
        { return Enter(true, quantity, OrderType.StopMarket, 0, stopPrice, isLiveUntilCancelled, signalName); }
        public Order EnterShortStopMarket(int barsInProgressIndex, bool isLiveUntilCancelled, int quantity, double stopPrice, string signalName)
        { return Enter(false, quantity, OrderType.StopMarket, 0, stopPrice, isLiveUntilCancelled, signalName); }
        // HG enterlongstoplimit
        public Order EnterLongStopLimit(int barsInProgressIndex, bool isLiveUntilCancelled, int quantity, double limitPrice, double stopPrice, string signalName)
        { return Enter(true, quantity, OrderType.StopLimit, limitPrice, stopPrice, isLiveUntilCancelled, signalName); }
        public Order EnterShortStopLimit(int barsInProgressIndex, bool isLiveUntilCancelled, int quantity, double limitPrice, double stopPrice, string signalName)
        { return Enter(false, quantity, OrderType.StopLimit, limitPrice, stopPrice, isLiveUntilCancelled, signalName); }

        // HG exitlong / exitshort
        public Order ExitLong() { return Exit(true, int.MaxValue, "Sell", ""); }
        public Order ExitShort() { return Exit(false, int.MaxValue, "Buy to cover", ""); }
        public Order ExitLong(int quantity, string signalName, string fromEntrySignal) { return Exit(true, quantity, signalName, fromEntrySignal); }
        public Order ExitShort(int quantity, string signalName, string fromEntrySignal) { return Exit(false, quantity, signalName, fromEntrySignal); }

        // HG setstoploss / setprofittarget (CalculationMode.Price)
        public void SetStopLoss(string fromEntrySignal, CalculationMode mode, double value, bool isSimulatedStop)
        {
            if (mode != CalculationMode.Price) throw new NotSupportedException("the fake models CalculationMode.Price");
            lock (managed) stops[fromEntrySignal ?? ""] = value;
        }

        public void SetProfitTarget(string fromEntrySignal, CalculationMode mode, double value)
        {
            if (mode != CalculationMode.Price) throw new NotSupportedException("the fake models CalculationMode.Price");
            lock (managed) targets[fromEntrySignal ?? ""] = value;
        }

        // HG managed_cancelorder
        public void CancelOrder(Order order) { if (order != null) Account.Cancel(new[] { order }); }

        void CheckName(string name)
        {
            if (name != null && name.Length > 50) Sim.Violation("signal name longer than 50 characters (HG enterlong): " + name);
        }

        Order Enter(bool buy, int quantity, OrderType type, double limit, double stop, bool live, string signal)
        {
            CheckName(signal);
            if (State != State.Realtime) return null;
            lock (managed)
            {
                int entries = managed.Count(m => m.Entry && m.Signal == signal && m.Order.IsLong == buy
                                                 && (Sim.IsWorking(m.Order.OrderState) || openBySignal.ContainsKey(signal) && openBySignal[signal] != 0));
                if (EntryHandling == EntryHandling.UniqueEntries && entries >= EntriesPerDirection)
                {
                    Print("Entry ignored: EntriesPerDirection " + EntriesPerDirection + " reached for " + signal);
                    return null;
                }
            }
            int signed = Signed;
            if (signed != 0 && (signed > 0) != buy)  // a reversal: close the position first (HG managed_approach)
                Submit(buy ? OrderAction.BuyToCover : OrderAction.Sell, Math.Abs(signed), OrderType.Market, 0, 0, "Close position", false, true, "", false);
            return Submit(buy ? OrderAction.Buy : OrderAction.SellShort, quantity, type, limit, stop, signal, true, live, "", false);
        }

        Order Exit(bool fromLong, int quantity, string signal, string fromEntry)
        {
            CheckName(signal);
            int signed = Signed;
            if (fromLong ? signed <= 0 : signed >= 0)
            {
                Print((fromLong ? "ExitLong" : "ExitShort") + " ignored: no " + (fromLong ? "long" : "short") + " position");
                return null;
            }
            int qty = Math.Min(quantity, Math.Abs(signed));
            return Submit(fromLong ? OrderAction.Sell : OrderAction.BuyToCover, qty, OrderType.Market, 0, 0, signal, false, true, fromEntry ?? "", false);
        }

        Order Submit(OrderAction action, int quantity, OrderType type, double limit, double stop, string name, bool entry, bool live,
                     string fromEntry, bool protective, string oco = "")
        {
            var order = Account.CreateOrder(Instrument, action, type, OrderEntry.Automated, TimeInForce, quantity, limit, stop, oco, name,
                                            Core.Globals.MaxDate, null);
            order.FromEntrySignal = fromEntry;
            var m = new Managed { Order = order, Signal = name, Entry = entry, Live = live, FromEntry = fromEntry, Protective = protective };
            lock (managed) managed.Add(m);
            order.Owner = OnOrder;
            order.OnFill = x => OnFilled(m, x);
            Account.Submit(new[] { order });
            return order;
        }

        void OnOrder(Order o)
        {
            var snapshot = new { o.LimitPrice, o.StopPrice, o.Quantity, o.Filled, o.AverageFillPrice, o.OrderState, Time = Sim.Now };
            Thread.Post(() => OnOrderUpdate(o, snapshot.LimitPrice, snapshot.StopPrice, snapshot.Quantity, snapshot.Filled,
                                            snapshot.AverageFillPrice, snapshot.OrderState, snapshot.Time, ErrorCode.NoError, ""));
        }

        void OnFilled(Managed m, Execution x)
        {
            int signed = x.MarketPosition == MarketPosition.Long ? x.Quantity : -x.Quantity;
            Move(signed, x.Price);
            var protect = new List<Order>();
            lock (managed)
            {
                if (m.Entry)
                {
                    int open;
                    openBySignal.TryGetValue(m.Signal, out open);
                    openBySignal[m.Signal] = open + x.Quantity;
                    double stop, target;
                    bool hasStop = stops.TryGetValue(m.Signal, out stop) || stops.TryGetValue("", out stop);
                    bool hasTarget = targets.TryGetValue(m.Signal, out target) || targets.TryGetValue("", out target);
                    string oco = "ocoSet" + (++ocoCount).ToString(CultureInfo.InvariantCulture);
                    var exit = m.Order.IsLong ? OrderAction.Sell : OrderAction.BuyToCover;
                    if (hasStop) protect.Add(Prepare(exit, x.Quantity, OrderType.StopMarket, 0, stop, "Stop loss", m.Signal, oco));
                    if (hasTarget) protect.Add(Prepare(exit, x.Quantity, OrderType.Limit, target, 0, "Profit target", m.Signal, oco));
                }
                else Reduce(m.Protective ? m.FromEntry : m.FromEntry, x.Quantity);
            }
            if (protect.Count > 0) Account.Submit(protect);
            if (!m.Entry) ShrinkProtection();
            Post(x, signed);
        }

        Order Prepare(OrderAction action, int quantity, OrderType type, double limit, double stop, string name, string fromEntry, string oco)
        {
            var order = Account.CreateOrder(Instrument, action, type, OrderEntry.Automated, TimeInForce.Gtc, quantity, limit, stop, oco, name,
                                            Core.Globals.MaxDate, null);
            order.FromEntrySignal = fromEntry;
            var m = new Managed { Order = order, Signal = name, Entry = false, Live = true, FromEntry = fromEntry, Protective = true };
            managed.Add(m);
            order.Owner = OnOrder;
            order.OnFill = x => OnFilled(m, x);
            return order;
        }

        /// <summary>An exit closes entries' quantity (a named entry first, else the oldest).</summary>
        void Reduce(string fromEntry, int quantity)
        {
            foreach (var signal in openBySignal.Keys.ToList())
            {
                if (quantity <= 0) break;
                if (!string.IsNullOrEmpty(fromEntry) && signal != fromEntry) continue;
                int take = Math.Min(quantity, openBySignal[signal]);
                openBySignal[signal] -= take;
                quantity -= take;
            }
        }

        /// <summary>Stop loss / profit target follow what is left of their entry; all go when it is closed.</summary>
        void ShrinkProtection()
        {
            var cancel = new List<Order>();
            var change = new List<Order>();
            lock (managed)
            {
                foreach (var m in managed.Where(x => x.Protective && Sim.IsWorking(x.Order.OrderState)))
                {
                    int open;
                    openBySignal.TryGetValue(m.FromEntry, out open);
                    if (open <= 0 || Signed == 0) cancel.Add(m.Order);
                    else if (m.Order.Quantity - m.Order.Filled > open)
                    {
                        m.Order.QuantityChanged = open + m.Order.Filled;
                        change.Add(m.Order);
                    }
                }
            }
            if (cancel.Count > 0) Account.Cancel(cancel);
            if (change.Count > 0) Account.Change(change);
        }

        void Move(int signed, double price)
        {
            int before = Signed;
            int after = before + signed;
            double avg = own.AveragePrice;
            if (before == 0 || Math.Sign(before) == Math.Sign(signed)) avg = after == 0 ? 0 : (avg * Math.Abs(before) + price * Math.Abs(signed)) / Math.Abs(after);
            else if (Math.Sign(after) != Math.Sign(before)) avg = after == 0 ? 0 : price;
            own.MarketPosition = after > 0 ? MarketPosition.Long : after < 0 ? MarketPosition.Short : MarketPosition.Flat;
            own.Quantity = Math.Abs(after);
            own.AveragePrice = avg;
        }

        void Post(Execution x, int signed)
        {
            var snapshot = new { own.AveragePrice, own.Quantity, own.MarketPosition };
            Thread.Post(() =>
            {
                OnExecutionUpdate(x, x.ExecutionId, x.Price, x.Quantity, x.MarketPosition, x.OrderId, x.Time);
                OnPositionUpdate(own, snapshot.AveragePrice, snapshot.Quantity, snapshot.MarketPosition);
            });
        }

        /// <summary>Fake only: the bar closes. Orders not placed live-until-cancelled expire (HG enterlonglimit).</summary>
        public void CloseBar()
        {
            List<Order> expire;
            lock (managed) expire = managed.Where(m => m.Entry && !m.Live && Sim.IsWorking(m.Order.OrderState)).Select(m => m.Order).ToList();
            if (expire.Count > 0) Account.Cancel(expire);
            Thread.Post(OnBarUpdate);
        }

        /// <summary>Fake only: NinjaTrader's exit on session close, reported as an execution without an Order.</summary>
        public void SessionCloseExit(double price)
        {
            int signed = Signed;
            if (signed == 0) return;
            Sim.ForeignExecution(Account, Instrument, -signed, price);
            Move(-signed, price);
            lock (managed) Reduce("", Math.Abs(signed));
            ShrinkProtection();
            Execution x;
            lock (Account.Executions) x = Account.Executions.Last();
            Post(x, -signed);
        }
    }
}
