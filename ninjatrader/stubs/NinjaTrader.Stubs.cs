// A stub of the NinjaTrader 8 API surface the Enigma-Apex NinjaScript files use, written from NinjaTrader's
// documented signatures (NinjaScript help: Account, Order, Execution, Position, AddOnBase, Indicator, Strategy,
// Draw.TextFixed, AtmStrategy). It exists only so CI can compile the NinjaScript files with Mono; inside
// NinjaTrader the real assemblies are used. Behaviour here is empty on purpose: nothing runs against it.
using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;

#pragma warning disable 67 // events are declared for the NinjaScript files to subscribe to; nothing raises them here

namespace NinjaTrader.Core
{
    public static class Globals
    {
        public static readonly DateTime MaxDate = DateTime.MaxValue;
    }
}

namespace NinjaTrader.Cbi
{
    public enum OrderAction { Buy, BuyToCover, Sell, SellShort }
    public enum OrderType { Limit, Market, MIT, StopLimit, StopMarket }
    public enum OrderEntry { Automated, Manual }
    public enum TimeInForce { Day, Gtc, Gtd, Ioc, Opg }
    public enum OrderState
    {
        Accepted, CancelPending, CancelSubmitted, Cancelled, ChangePending, ChangeSubmitted, Filled, Initialized,
        PartFilled, Rejected, Submitted, TriggerPending, Unknown, Working,
    }
    public enum MarketPosition { Flat, Long, Short }
    public enum AccountItem { CashValue, NetLiquidation, RealizedProfitLoss, UnrealizedProfitLoss }
    public enum Currency { UsDollar }
    public enum ConnectionStatus { Connected, Connecting, ConnectionLost, Disconnected, Disconnecting }
    public enum ErrorCode { NoError, OrderRejected, UnableToCancelOrder, UnableToChangeOrder, UnableToSubmitOrder }

    public class MasterInstrument
    {
        public string Name { get; set; }
        public double TickSize { get; set; }
        public double PointValue { get; set; }
    }

    public class Instrument
    {
        public string FullName { get; set; }
        public MasterInstrument MasterInstrument { get; set; }
        public static Instrument GetInstrument(string name) { return null; }
    }

    public class CustomOrder { }

    public class Connection
    {
        public ConnectionStatus Status { get; set; }
    }

    public class Order
    {
        public string Name { get; set; }
        public string OrderId { get; set; }
        public OrderState OrderState { get; set; }
        public OrderAction OrderAction { get; set; }
        public OrderType OrderType { get; set; }
        public int Quantity { get; set; }
        public int Filled { get; set; }
        public double AverageFillPrice { get; set; }
        public double LimitPrice { get; set; }
        public double StopPrice { get; set; }
        public Instrument Instrument { get; set; }
        public Account Account { get; set; }
    }

    public class Execution
    {
        public string ExecutionId { get; set; }
        public Order Order { get; set; }
        public int Quantity { get; set; }
        public double Price { get; set; }
        public double Commission { get; set; }
        public DateTime Time { get; set; }
        public MarketPosition MarketPosition { get; set; }
        public Instrument Instrument { get; set; }
        public Account Account { get; set; }
    }

    public class Position
    {
        public Instrument Instrument { get; set; }
        public MarketPosition MarketPosition { get; set; }
        public int Quantity { get; set; }
        public double AveragePrice { get; set; }
        public Account Account { get; set; }
    }

    public class OrderEventArgs : EventArgs
    {
        public Order Order { get; set; }
        public OrderState OrderState { get; set; }
        public int Filled { get; set; }
        public double AverageFillPrice { get; set; }
        public int Quantity { get; set; }
        public DateTime Time { get; set; }
        public ErrorCode Error { get; set; }
        public string Comment { get; set; }
    }

    public class ExecutionEventArgs : EventArgs
    {
        public Execution Execution { get; set; }
    }

    public class PositionEventArgs : EventArgs
    {
        public Position Position { get; set; }
        public MarketPosition MarketPosition { get; set; }
        public int Quantity { get; set; }
        public double AveragePrice { get; set; }
    }

    public class AccountItemEventArgs : EventArgs
    {
        public Account Account { get; set; }
        public AccountItem AccountItem { get; set; }
        public double Value { get; set; }
    }

    public class Account
    {
        public static Collection<Account> All { get; } = new Collection<Account>();
        public string Name { get; set; }
        public Connection Connection { get; set; }
        public Collection<Order> Orders { get; } = new Collection<Order>();
        public Collection<Position> Positions { get; } = new Collection<Position>();
        public event EventHandler<OrderEventArgs> OrderUpdate;
        public event EventHandler<ExecutionEventArgs> ExecutionUpdate;
        public event EventHandler<PositionEventArgs> PositionUpdate;
        public event EventHandler<AccountItemEventArgs> AccountItemUpdate;

        public Order CreateOrder(Instrument instrument, OrderAction action, OrderType orderType, OrderEntry orderEntry,
                                 TimeInForce timeInForce, int quantity, double limitPrice, double stopPrice, string oco,
                                 string name, DateTime gtd, CustomOrder customOrder) { return null; }
        public void Submit(IEnumerable<Order> orders) { }
        public void Cancel(IEnumerable<Order> orders) { }
        public void Flatten(ICollection<Instrument> instruments) { }
        public double Get(AccountItem item, Currency currency) { return 0; }
    }
}

namespace NinjaTrader.NinjaScript
{
    using NinjaTrader.Cbi;

    public enum State { SetDefaults, Configure, Active, DataLoaded, Historical, Transition, Realtime, Terminated, Finalized }
    public enum Calculate { OnBarClose, OnEachTick, OnPriceChange }
    public enum CalculationMode { Currency, Percent, Price, Ticks }
    public enum EntryHandling { AllEntries, UniqueEntries }

    public class NinjaScriptPropertyAttribute : Attribute { }

    public abstract class NinjaScriptBase
    {
        public string Name { get; set; }
        public string Description { get; set; }
        public State State { get; set; }
        protected virtual void OnStateChange() { }
        public void Print(object value) { }
    }

    public abstract class AddOnBase : NinjaScriptBase { }

    public static class AtmStrategy
    {
        public static void StartAtmStrategy(string atmStrategyTemplateName, Order entryOrder) { }
    }
}

namespace NinjaTrader.NinjaScript.DrawingTools
{
    using NinjaTrader.NinjaScript;

    public enum TextPosition { BottomLeft, BottomRight, Center, TopLeft, TopRight }

    public class TextFixed { }

    public static class Draw
    {
        public static TextFixed TextFixed(NinjaScriptBase owner, string tag, string text, TextPosition textPosition) { return null; }
    }
}

namespace NinjaTrader.NinjaScript.Indicators
{
    using NinjaTrader.Cbi;
    using NinjaTrader.NinjaScript;

    public abstract class Indicator : NinjaScriptBase
    {
        public bool IsOverlay { get; set; }
        public Calculate Calculate { get; set; }
        public Instrument Instrument { get; set; }
        public int CurrentBar { get; set; }
        protected virtual void OnBarUpdate() { }
        public void ForceRefresh() { }
        public void TriggerCustomEvent(Action<object> action, object state) { }
    }
}

namespace NinjaTrader.NinjaScript.Strategies
{
    using NinjaTrader.Cbi;
    using NinjaTrader.NinjaScript;

    public abstract class Strategy : NinjaScriptBase
    {
        public Calculate Calculate { get; set; }
        public int EntriesPerDirection { get; set; }
        public EntryHandling EntryHandling { get; set; }
        public bool IsExitOnSessionCloseStrategy { get; set; }
        public int BarsRequiredToTrade { get; set; }
        public Instrument Instrument { get; set; }
        public Account Account { get; set; }
        public Position Position { get; set; }
        protected virtual void OnBarUpdate() { }
        protected virtual void OnOrderUpdate(Order order, double limitPrice, double stopPrice, int quantity, int filled,
                                             double averageFillPrice, OrderState orderState, DateTime time, ErrorCode error,
                                             string comment) { }
        protected virtual void OnExecutionUpdate(Execution execution, string executionId, double price, int quantity,
                                                 MarketPosition marketPosition, string orderId, DateTime time) { }
        protected virtual void OnPositionUpdate(Position position, double averagePrice, int quantity,
                                                MarketPosition marketPosition) { }
        public Order EnterLong(int quantity, string signalName) { return null; }
        public Order EnterShort(int quantity, string signalName) { return null; }
        public Order EnterLongLimit(int quantity, double limitPrice, string signalName) { return null; }
        public Order EnterShortLimit(int quantity, double limitPrice, string signalName) { return null; }
        public Order EnterLongStopMarket(int quantity, double stopPrice, string signalName) { return null; }
        public Order EnterShortStopMarket(int quantity, double stopPrice, string signalName) { return null; }
        public Order ExitLong() { return null; }
        public Order ExitShort() { return null; }
        public void SetStopLoss(string fromEntrySignal, CalculationMode mode, double value, bool isSimulatedStop) { }
        public void SetProfitTarget(string fromEntrySignal, CalculationMode mode, double value) { }
        public void CancelOrder(Order order) { }
        public void TriggerCustomEvent(Action<object> action, object state) { }
    }
}
